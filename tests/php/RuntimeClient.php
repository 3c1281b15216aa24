<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

use GuzzleHttp\Psr7\Utils;
use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\PendingRequest;
use Illuminate\Http\Client\Response;

/**
 * The runtime's REST/SSE API as a Laravel app calls it: the Illuminate HTTP client on Guzzle,
 * one token per request bound to the run, thread and user it acts on.
 */
final class RuntimeClient
{
    public function __construct(
        private Factory $http,
        private string $baseUrl,
        private TokenFactory $tokens,
    ) {
    }

    /** POST /internal/v1/runs with the contract's body (runId, threadId, userId as an integer, ...). */
    public function startRun(array $body): array
    {
        $claims = ['run_id' => $body['runId'], 'thread_id' => $body['threadId'], 'user_id' => $body['userId'] ?? null];

        return $this->json($this->request($claims, $body)->post('/internal/v1/runs', $body));
    }

    /**
     * GET /internal/v1/runs/{runId}/stream: hands each SSE event's bytes to $onBytes as it
     * arrives (a controller echoes and flushes them to the browser), resuming after
     * $lastEventId when given. Returns the response headers.
     *
     * @param callable(string): void $onBytes
     */
    public function streamRun(string $runId, int $userId, callable $onBytes, ?string $lastEventId = null): array
    {
        $request = $this->request(['run_id' => $runId, 'user_id' => $userId])
            ->withOptions(['stream' => true, 'read_timeout' => 60])
            ->withHeaders(array_filter(['Accept' => 'text/event-stream', 'Last-Event-ID' => $lastEventId]));
        $response = $request->get('/internal/v1/runs/' . rawurlencode($runId) . '/stream');
        if ($response->failed()) {
            throw RuntimeError::fromResponse($response);
        }
        // Line by line: a read of 8 KiB would wait for 8 KiB (or the end) through PHP's
        // HTTP stream, holding events back; each complete SSE event is handed on at once.
        $body = $response->toPsrResponse()->getBody();
        $event = '';
        while (!$body->eof()) {
            $line = Utils::readLine($body);
            $event .= $line;
            if ($line === "\n" || ($body->eof() && $event !== '')) {
                $onBytes($event);
                $event = '';
            }
        }

        return $response->headers();
    }

    /** POST /internal/v1/runs/{runId}/cancel with no data (Illuminate sends `[]`). */
    public function cancelRun(string $runId, int $userId): array
    {
        return $this->json(
            $this->request(['run_id' => $runId, 'user_id' => $userId], [])
                ->post('/internal/v1/runs/' . rawurlencode($runId) . '/cancel')
        );
    }

    public function getRun(string $runId, int $userId): array
    {
        return $this->json(
            $this->request(['run_id' => $runId, 'user_id' => $userId])->get('/internal/v1/runs/' . rawurlencode($runId))
        );
    }

    public function getThreadState(string $threadId, int $userId): array
    {
        return $this->json(
            $this->request(['thread_id' => $threadId, 'user_id' => $userId])
                ->get('/internal/v1/threads/' . rawurlencode($threadId) . '/state')
        );
    }

    /** @param list<array{kind: string, data?: array}> $events */
    public function appendEvents(string $runId, int $userId, string $idempotencyKey, array $events, ?int $expectedPreviousSeq = null): array
    {
        $body = array_filter([
            'idempotencyKey' => $idempotencyKey,
            'expectedPreviousSeq' => $expectedPreviousSeq === null ? null : (string) $expectedPreviousSeq,
            'events' => $events,
        ], fn ($value) => $value !== null);

        return $this->json(
            $this->request(['run_id' => $runId, 'user_id' => $userId], $body)
                ->post('/internal/v1/runs/' . rawurlencode($runId) . '/events', $body)
        );
    }

    /**
     * A request with a fresh token. X-OA-RUNTIME-BODY-SHA256 is sent as the product sends it
     * (hex SHA-256 of the JSON body Guzzle writes); the runtime does not verify it (README).
     */
    private function request(array $claims, ?array $body = null): PendingRequest
    {
        $headers = [
            'X-OA-RUNTIME-SIGNATURE' => $this->tokens->mint($claims),
            'X-OA-RUNTIME-KEY-ID' => $this->tokens->keyId,
            'X-OA-USER-ID' => isset($claims['user_id']) ? (string) $claims['user_id'] : null,
            'X-OA-RUNTIME-BODY-SHA256' => $body === null ? null : hash('sha256', json_encode($body)),
        ];

        return $this->http->baseUrl($this->baseUrl)
            ->acceptJson()
            ->timeout(30)
            ->withHeaders(array_filter($headers, fn ($value) => $value !== null));
    }

    private function json(Response $response): array
    {
        if ($response->failed()) {
            throw RuntimeError::fromResponse($response);
        }

        return $response->json();
    }
}
