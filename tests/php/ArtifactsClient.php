<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\PendingRequest;
use Illuminate\Http\Client\Response;

/**
 * The artifact routes as a Laravel app proxies them: list a run's or thread's artifacts,
 * and fetch one's bytes (the body is the bytes, the content type the artifact's media type).
 */
final class ArtifactsClient
{
    public function __construct(
        private Factory $http,
        private string $baseUrl,
        private TokenFactory $tokens,
    ) {
    }

    public function listRun(string $runId, int $userId, array $query = []): array
    {
        $path = '/internal/v1/runs/' . rawurlencode($runId) . '/artifacts';

        return $this->json($this->request(['run_id' => $runId, 'user_id' => $userId])->get($path, $query));
    }

    public function listThread(string $threadId, int $userId): array
    {
        $path = '/internal/v1/threads/' . rawurlencode($threadId) . '/artifacts';

        return $this->json($this->request(['thread_id' => $threadId, 'user_id' => $userId])->get($path));
    }

    /** @return array{contentType: string, size: string, sha256: string, disposition: string, body: string} */
    public function fetchRun(string $runId, int $userId, string $sha256, array $range = []): array
    {
        $path = '/internal/v1/runs/' . rawurlencode($runId) . '/artifacts/' . rawurlencode($sha256);
        $response = $this->request(['run_id' => $runId, 'user_id' => $userId])->get($path, $range);
        if ($response->failed()) {
            throw RuntimeError::fromResponse($response);
        }

        return [
            'contentType' => $response->header('Content-Type'),
            'size' => $response->header('X-OA-Artifact-Size'),
            'sha256' => $response->header('X-OA-Artifact-Sha256'),
            'disposition' => $response->header('Content-Disposition'),
            'body' => base64_encode($response->body()),
        ];
    }

    private function request(array $claims): PendingRequest
    {
        return $this->http->baseUrl($this->baseUrl)->timeout(30)->withHeaders([
            'X-OA-RUNTIME-SIGNATURE' => $this->tokens->mint($claims),
            'X-OA-RUNTIME-KEY-ID' => $this->tokens->keyId,
            'X-OA-USER-ID' => (string) $claims['user_id'],
        ]);
    }

    private function json(Response $response): array
    {
        if ($response->failed()) {
            throw RuntimeError::fromResponse($response);
        }

        return $response->json();
    }
}
