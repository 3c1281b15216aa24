<?php
// Drives ArtifactsClient against a running stack: a run whose tool output is stored as an
// artifact, then the listings and fetches Laravel proxies; prints a JSON report of every step
// (tests/php/test_artifacts_interop.py asserts on it).
// Usage: php artifacts_flow.php <base url> <secret for key id runtime-v1> <unique suffix>
declare(strict_types=1);

require __DIR__ . '/bootstrap.php';
require_once __DIR__ . '/steps.php';
require_once __DIR__ . '/ArtifactsClient.php';

use Illuminate\Http\Client\Factory;
use OpenAgents\Runtime\ArtifactsClient;
use OpenAgents\Runtime\RuntimeClient;
use OpenAgents\Runtime\TokenFactory;

[, $baseUrl, $secret, $suffix] = $argv;
$tokens = new TokenFactory($secret);
$runs = new RuntimeClient(new Factory(), $baseUrl, $tokens);
$client = new ArtifactsClient(new Factory(), $baseUrl, $tokens);
$userId = 42;
$runId = "run-php-art-$suffix";
$threadId = "thread-php-art-$suffix";
$report = [];

$step = function (string $name, callable $call) use (&$report): void {
    run_step($report, $name, $call);
};

$step('start', fn () => $runs->startRun([
    'runId' => $runId, 'threadId' => $threadId, 'userId' => $userId,
    'prompt' => "/tool big_output {\"bytes\": 300000}\n/say stored",
]));
// Read the stream to [DONE]: the run has finished and its artifact is stored.
$step('stream', function () use ($runs, $runId, $userId) {
    $bytes = '';
    $runs->streamRun($runId, $userId, function (string $piece) use (&$bytes) {
        $bytes .= $piece;
    });

    return $bytes;
});
$step('listRun', fn () => $client->listRun($runId, $userId));
$step('listThread', fn () => $client->listThread($threadId, $userId));
$sha = $report['listRun']['ok']['artifacts'][0]['sha256'] ?? str_repeat('0', 64);
$step('fetch', fn () => $client->fetchRun($runId, $userId, $sha));
$step('fetchRange', fn () => $client->fetchRun($runId, $userId, $sha, ['offset' => 100, 'length' => 20]));
$step('fetchUnknown', fn () => $client->fetchRun($runId, $userId, str_repeat('0', 64)));
$step('fetchOtherUser', fn () => $client->fetchRun($runId, $userId + 1, $sha));

echo json_encode($report, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
