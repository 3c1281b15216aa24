<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\PendingRequest;
use Illuminate\Http\Client\Response;

/**
 * The agent routes as a Laravel controller would proxy them: camelCase JSON bodies (protobuf
 * JSON), a token bound to the signed-in user (integer user_id) and X-OA-USER-ID, or a token
 * bound to the agent (`agent_id`) for a job acting on one agent.
 */
final class AgentsClient
{
    private const PATH = '/internal/v1/agents';

    public function __construct(
        private Factory $http,
        private string $baseUrl,
        private TokenFactory $tokens,
    ) {
    }

    /** @return array{status: int, body: array} */
    public function create(int $userId, array $agent): array
    {
        return $this->answer($this->asUser($userId)->post(self::PATH, $agent));
    }

    /** @param list<array> $frames @return array{status: int, body: array} */
    public function frames(int $userId, string $agentId, array $frames): array
    {
        return $this->answer($this->asUser($userId)->post($this->path($agentId, '/frames'), ['frames' => $frames]));
    }

    /** @return array{status: int, body: array} */
    public function show(string $agentId): array
    {
        return $this->answer($this->asAgent($agentId)->get($this->path($agentId)));
    }

    /** Http::post($url) with no data sends `[]`. @return array{status: int, body: array} */
    public function wake(string $agentId): array
    {
        return $this->answer($this->asAgent($agentId)->post($this->path($agentId, '/wake')));
    }

    /** @return array{status: int, body: array} */
    public function sleep(string $agentId): array
    {
        return $this->answer($this->asAgent($agentId)->post($this->path($agentId, '/sleep')));
    }

    private function path(string $agentId, string $suffix = ''): string
    {
        return self::PATH . '/' . rawurlencode($agentId) . $suffix;
    }

    private function asUser(int $userId): PendingRequest
    {
        return $this->pending(['user_id' => $userId])->withHeaders(['X-OA-USER-ID' => (string) $userId]);
    }

    private function asAgent(string $agentId): PendingRequest
    {
        return $this->pending(['agent_id' => $agentId]);
    }

    private function pending(array $claims): PendingRequest
    {
        return $this->http->baseUrl($this->baseUrl)
            ->acceptJson()
            ->timeout(30)
            ->withHeaders([
                'X-OA-RUNTIME-SIGNATURE' => $this->tokens->mint($claims),
                'X-OA-RUNTIME-KEY-ID' => $this->tokens->keyId,
            ]);
    }

    /** @return array{status: int, body: array} */
    private function answer(Response $response): array
    {
        if ($response->failed()) {
            throw RuntimeError::fromResponse($response);
        }

        return ['status' => $response->status(), 'body' => $response->json()];
    }
}
