<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\PendingRequest;
use Illuminate\Http\Client\Response;

/**
 * The memory routes as a Laravel app proxies them for a user: compact a thread's memory now,
 * list its chunks, get and expand one, ask a map/reduce question and read its progress.
 */
final class MemoryClient
{
    public function __construct(
        private Factory $http,
        private string $baseUrl,
        private TokenFactory $tokens,
    ) {
    }

    public function compactNow(string $threadId, int $userId): array
    {
        // An empty JSON object: `[]` would be sent as a JSON array.
        $request = $this->request($userId)->withBody('{}', 'application/json');

        return $this->json($request->post($this->thread($threadId) . '/compact'));
    }

    public function listChunks(string $threadId, int $userId, array $query = []): array
    {
        return $this->json($this->request($userId)->get($this->thread($threadId) . '/chunks', $query));
    }

    public function getChunk(string $chunkId, int $userId): array
    {
        return $this->json($this->request($userId)->get('/internal/v1/memory/chunks/' . rawurlencode($chunkId)));
    }

    public function expand(string $chunkId, int $userId, array $query = []): array
    {
        $path = '/internal/v1/memory/chunks/' . rawurlencode($chunkId) . '/expand';

        return $this->json($this->request($userId)->get($path, $query));
    }

    public function startQuery(string $threadId, int $userId, array $body): array
    {
        return $this->json($this->request($userId)->post($this->thread($threadId) . '/queries', $body));
    }

    public function getQuery(string $queryId, int $userId): array
    {
        return $this->json($this->request($userId)->get('/internal/v1/memory/queries/' . rawurlencode($queryId)));
    }

    private function thread(string $threadId): string
    {
        return '/internal/v1/threads/' . rawurlencode($threadId) . '/memory';
    }

    private function request(int $userId): PendingRequest
    {
        return $this->http->baseUrl($this->baseUrl)->timeout(30)->withHeaders([
            'X-OA-RUNTIME-SIGNATURE' => $this->tokens->mint(['user_id' => $userId]),
            'X-OA-RUNTIME-KEY-ID' => $this->tokens->keyId,
            'X-OA-USER-ID' => (string) $userId,
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
