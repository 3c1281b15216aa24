<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

use Illuminate\Http\Client\Response;
use RuntimeException;

/**
 * A non-2xx answer of the runtime, decoded from its one error shape (google.rpc.Status JSON):
 * {"code": <gRPC code>, "message": "...", "details": [{"@type": "...ErrorInfo", "reason", "domain", "metadata"}]}
 */
final class RuntimeError extends RuntimeException
{
    /** @param array<string, string> $metadata */
    public function __construct(
        public readonly int $httpStatus,
        public readonly int $grpcCode,
        public readonly string $reason,
        public readonly string $domain,
        public readonly array $metadata,
        string $message,
    ) {
        parent::__construct($message, $httpStatus);
    }

    public static function fromResponse(Response $response): self
    {
        $status = $response->json() ?? [];
        $info = [];
        foreach ($status['details'] ?? [] as $detail) {
            if (str_ends_with($detail['@type'] ?? '', 'google.rpc.ErrorInfo')) {
                $info = $detail;
            }
        }

        return new self(
            $response->status(),
            (int) ($status['code'] ?? 2),
            (string) ($info['reason'] ?? 'UNKNOWN'),
            (string) ($info['domain'] ?? ''),
            $info['metadata'] ?? [],
            (string) ($status['message'] ?? $response->body()),
        );
    }
}
