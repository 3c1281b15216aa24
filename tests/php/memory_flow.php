<?php
// Drives MemoryClient against a running stack over a thread seeded with two past hours of
// history: compact it now (until nothing more is due), list its chunks by level and page, get
// one, expand an hour, ask a question and read it until answered; prints a JSON report of every
// step (tests/php/test_memory_interop.py asserts on it).
// Usage: php memory_flow.php <base url> <secret for key id runtime-v1> <unique suffix> <thread id>
declare(strict_types=1);

require __DIR__ . '/bootstrap.php';
require_once __DIR__ . '/steps.php';
require_once __DIR__ . '/MemoryClient.php';

use Illuminate\Http\Client\Factory;
use OpenAgents\Runtime\MemoryClient;
use OpenAgents\Runtime\TokenFactory;

[, $baseUrl, $secret, $suffix, $threadId] = $argv;
$client = new MemoryClient(new Factory(), $baseUrl, new TokenFactory($secret));
$userId = 42;
$report = [];

$step = function (string $name, callable $call) use (&$report): void {
    run_step($report, $name, $call);
};

/** Calls $call until $done says its answer is final (at most 30 s); that answer. */
function until_done(callable $call, callable $done): array
{
    $deadline = microtime(true) + 30;
    while (true) {
        $answer = $call();
        if ($done($answer) || microtime(true) > $deadline) {
            return $answer;
        }
        usleep(50_000);
    }
}

$step('compact', fn () => $client->compactNow($threadId, $userId));
// Written in the background: settled once a compaction plans nothing more.
$step('settled', fn () => until_done(
    fn () => $client->compactNow($threadId, $userId),
    fn (array $answer) => ($answer['planned'] ?? []) === [],
));
$step('listL1', fn () => $client->listChunks($threadId, $userId, ['level' => 'MEMORY_LEVEL_L1', 'pageSize' => 5]));
$next = $report['listL1']['ok']['nextPageToken'] ?? '';
$step('listL1Rest', fn () => $client->listChunks(
    $threadId, $userId, ['level' => 'MEMORY_LEVEL_L1', 'pageToken' => $next],
));
$step('listL2', fn () => $client->listChunks($threadId, $userId, ['level' => 'MEMORY_LEVEL_L2']));
$first = $report['listL1']['ok']['chunks'][0]['chunkId'] ?? 'mc1_none';
$hours = $report['listL2']['ok']['chunks'] ?? [];
$step('get', fn () => $client->getChunk($first, $userId));
$step('expand', fn () => $client->expand($hours[0]['chunkId'] ?? 'mc2_none', $userId, ['maxItems' => 3]));
$queryId = "q-php-$suffix";
$step('ask', fn () => $client->startQuery($threadId, $userId, [
    'queryId' => $queryId,
    'question' => 'what was noted?',
    'windowStartTime' => $hours[0]['windowStartTime'] ?? '1970-01-01T00:00:00Z',
    'windowEndTime' => $hours[1]['windowEndTime'] ?? '1970-01-01T01:00:00Z',
]));
$step('answer', fn () => until_done(
    fn () => $client->getQuery($queryId, $userId),
    fn (array $answer) => in_array(
        $answer['query']['state'] ?? '', ['MEMORY_QUERY_STATE_DONE', 'MEMORY_QUERY_STATE_FAILED'], true,
    ),
));
$step('getUnknown', fn () => $client->getChunk('mc1_' . str_repeat('0', 32), $userId));
$step('getOtherUser', fn () => $client->getChunk($first, $userId + 1));
$step('askOtherUser', fn () => $client->getQuery($queryId, $userId + 1));

echo json_encode($report, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
