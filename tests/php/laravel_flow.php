<?php
// Drives RuntimeClient through the Laravel flow against a running stack and prints a JSON
// report of every step (tests/php/test_laravel_interop.py asserts on it).
// Usage: php laravel_flow.php <base url> <secret for key id runtime-v1> <unique suffix>
declare(strict_types=1);

require __DIR__ . '/bootstrap.php';
require_once __DIR__ . '/steps.php';

use Illuminate\Http\Client\Factory;
use OpenAgents\Runtime\RuntimeClient;
use OpenAgents\Runtime\TokenFactory;

[, $baseUrl, $secret, $suffix] = $argv;
$tokens = new TokenFactory($secret);
$client = new RuntimeClient(new Factory(), $baseUrl, $tokens);
$userId = 42;
$runId = "run-php-$suffix";
$threadId = "thread-php-$suffix";
$report = [];

$step = function (string $name, callable $call) use (&$report): void {
    run_step($report, $name, $call);
};

// The contract's exact body: userId is a JSON integer.
$body = [
    'runId' => $runId,
    'threadId' => $threadId,
    'userId' => $userId,
    'autopilotId' => 'autopilot-7',
    'authenticatedSession' => true,
    'prompt' => "/say Hello from Laravel\n/sleep 400\n/say after a pause",
    'messages' => [],
    'contextFrames' => [['kind' => 'memory', 'text' => 'likes tea']],
    'toolPolicy' => ['allow' => [], 'deny' => [], 'guestMode' => false],
];
$step('start', fn () => $client->startRun($body));

// Stream to [DONE], recording when each piece of bytes arrived.
$step('stream', function () use ($client, $runId, $userId) {
    $began = microtime(true);
    $chunks = [];
    $headers = $client->streamRun($runId, $userId, function (string $bytes) use (&$chunks, $began) {
        $chunks[] = ['atMs' => (int) round((microtime(true) - $began) * 1000), 'bytes' => $bytes];
    });

    return ['chunks' => $chunks, 'contentType' => $headers['content-type'][0] ?? ''];
});

// Resume after the first event id the stream carried.
$step('resume', function () use ($client, $runId, $userId, &$report) {
    $all = implode('', array_column($report['stream']['ok']['chunks'] ?? [], 'bytes'));
    preg_match('/^id: (\d+)$/m', $all, $match);
    $bytes = '';
    $client->streamRun($runId, $userId, function (string $piece) use (&$bytes) {
        $bytes .= $piece;
    }, $match[1]);

    return ['lastEventId' => $match[1], 'bytes' => $bytes];
});

$step('getRun', fn () => $client->getRun($runId, $userId));
$step('getThreadState', fn () => $client->getThreadState($threadId, $userId));

// A second run on the thread: append Laravel's own events, then cancel it with no data.
$sleeper = "run-php-sleep-$suffix";
$step('startSleeper', fn () => $client->startRun(
    ['runId' => $sleeper, 'threadId' => $threadId, 'userId' => $userId, 'prompt' => '/sleep 30000']
));
$step('appendEvents', fn () => $client->appendEvents(
    $sleeper, $userId, "feedback-$suffix", [['kind' => 'laravel.feedback', 'data' => ['thumbs' => 'up']]]
));
$step('cancel', fn () => $client->cancelRun($sleeper, $userId));

// A replayed token: the same token twice.
$replayed = $tokens->mint(['run_id' => $runId, 'user_id' => $userId]);
$replaying = new RuntimeClient(new Factory(), $baseUrl, new class ($replayed) extends TokenFactory {
    public function __construct(private string $token)
    {
        parent::__construct('unused');
    }

    public function mint(array $claims): string
    {
        return $this->token;
    }
});
$step('firstUse', fn () => $replaying->getRun($runId, $userId));
$step('replayedToken', fn () => $replaying->getRun($runId, $userId));

$step('otherUsersRun', fn () => $client->getRun($runId, 43));
$step('unknownRun', fn () => $client->getRun("run-php-unknown-$suffix", $userId));
$step('conflictingStart', fn () => $client->startRun(['prompt' => '/say something else'] + $body));

echo json_encode($report, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
