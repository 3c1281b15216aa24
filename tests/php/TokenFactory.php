<?php
declare(strict_types=1);

namespace OpenAgents\Runtime;

/**
 * Mints X-OA-RUNTIME-SIGNATURE tokens the way the product's Laravel app does:
 * v1.<base64url(claims json)>.<base64url(HMAC-SHA256(secret, claims segment))>, one per
 * request (the nonce makes each single-use), with the user id as a JSON integer.
 */
class TokenFactory
{
    public function __construct(
        private string $secret,
        public readonly string $keyId = 'runtime-v1',
        private int $ttlSeconds = 60,
    ) {
    }

    /** @param array{run_id?: ?string, thread_id?: ?string, user_id?: ?int} $claims */
    public function mint(array $claims): string
    {
        $now = time();
        $payload = array_filter(
            ['iat' => $now, 'exp' => $now + $this->ttlSeconds, 'nonce' => 'nonce-' . bin2hex(random_bytes(16))]
                + $claims,
            fn ($value) => $value !== null,
        );
        $segment = self::base64url(json_encode($payload, JSON_THROW_ON_ERROR));

        return 'v1.' . $segment . '.' . self::base64url(hash_hmac('sha256', $segment, $this->secret, true));
    }

    private static function base64url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }
}
