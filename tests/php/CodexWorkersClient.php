<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

use GuzzleHttp\Psr7\Utils;
use Illuminate\Http\Client\Factory;
use Illuminate\Http\Client\PendingRequest;
use Illuminate\Http\Client\Response;

/**
 * The Codex worker routes as the product's Laravel controller proxies them: the validated
 * snake_case body as is, a token bound to the signed-in user (integer user_id) and
 * X-OA-USER-ID. Answers come back with their HTTP status (202 new / 200 replay).
 */
final class CodexWorkersClient
{
    private const PATH = '/internal/v1/codex/workers';

    public function __construct(
        private Factory $http,
        private string $baseUrl,
        private TokenFactory $tokens,
    ) {
    }

    /** @return array{status: int, body: array} */
    public function create(int $userId, array $validated): array
    {
        return $this->answer($this->pending($userId, $validated)->post(self::PATH, $validated));
    }

    /** @return array{status: int, body: array} */
    public function index(int $userId, array $query): array
    {
        $path = self::PATH . ($query === [] ? '' : '?' . http_build_query($query));

        return $this->answer($this->pending($userId)->get($path));
    }

    /** @return array{status: int, body: array} */
    public function show(int $userId, string $workerId): array
    {
        return $this->answer($this->pending($userId)->get($this->path($workerId, 'snapshot')));
    }

    /** @return array{status: int, body: array} */
    public function request(int $userId, string $workerId, array $validated): array
    {
        return $this->answer($this->pending($userId, $validated)->post($this->path($workerId, 'requests'), $validated));
    }

    /** @return array{status: int, body: array} */
    public function events(int $userId, string $workerId, array $validated): array
    {
        return $this->answer($this->pending($userId, $validated)->post($this->path($workerId, 'events'), $validated));
    }

    /** Http::post($url) with no data sends `[]`. @return array{status: int, body: array} */
    public function stop(int $userId, string $workerId, ?array $validated = null): array
    {
        $url = $this->path($workerId, 'stop');
        $pending = $this->pending($userId, $validated ?? []);

        return $this->answer($validated === null ? $pending->post($url) : $pending->post($url, $validated));
    }

    /** The SSE stream read to its end (the worker stopped, or tail_ms passed): the raw bytes. */
    public function stream(int $userId, string $workerId, array $query, ?string $lastEventId = null): string
    {
        $url = $this->path($workerId, 'stream') . ($query === [] ? '' : '?' . http_build_query($query));
        $response = $this->pending($userId)
            ->withOptions(['stream' => true, 'read_timeout' => 60])
            ->withHeaders(array_filter(['Accept' => 'text/event-stream', 'Last-Event-ID' => $lastEventId]))
            ->get($url);
        if ($response->failed()) {
            throw RuntimeError::fromResponse($response);
        }
        $body = $response->toPsrResponse()->getBody();
        $bytes = '';
        while (!$body->eof()) {
            $bytes .= Utils::readLine($body);
        }

        return $bytes;
    }

    private function path(string $workerId, string $suffix): string
    {
        return self::PATH . '/' . rawurlencode($workerId) . '/' . $suffix;
    }

    private function pending(int $userId, ?array $body = null): PendingRequest
    {
        $headers = [
            'X-OA-RUNTIME-SIGNATURE' => $this->tokens->mint(['user_id' => $userId]),
            'X-OA-RUNTIME-KEY-ID' => $this->tokens->keyId,
            'X-OA-USER-ID' => (string) $userId,
            'X-OA-RUNTIME-BODY-SHA256' => $body === null ? null : hash('sha256', json_encode($body)),
        ];

        return $this->http->baseUrl($this->baseUrl)
            ->acceptJson()
            ->timeout(30)
            ->withHeaders(array_filter($headers, fn ($value) => $value !== null));
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
