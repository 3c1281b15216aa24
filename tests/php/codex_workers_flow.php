<?php
// Drives CodexWorkersClient through the product's Codex worker flow against a running stack
// and prints a JSON report of every step (tests/php/test_codex_workers_interop.py asserts on it).
// Usage: php codex_workers_flow.php <base url> <secret for key id runtime-v1> <unique suffix>
declare(strict_types=1);

require __DIR__ . '/bootstrap.php';
require_once __DIR__ . '/steps.php';
require_once __DIR__ . '/CodexWorkersClient.php';

use Illuminate\Http\Client\Factory;
use OpenAgents\Runtime\CodexWorkersClient;
use OpenAgents\Runtime\TokenFactory;

[, $baseUrl, $secret, $suffix] = $argv;
$client = new CodexWorkersClient(new Factory(), $baseUrl, new TokenFactory($secret));
$userId = 42;
$workerId = "codexw_php_$suffix";
$report = [];

$step = function (string $name, callable $call) use (&$report): void {
    run_step($report, $name, $call);
};

// The controller's validated bodies, as Laravel forwards them.
$create = ['worker_id' => $workerId, 'workspace_ref' => 'workspace://demo', 'adapter' => 'desktop', 'metadata' => []];
$step('create', fn () => $client->create($userId, $create));
$step('createAgain', fn () => $client->create($userId, $create));
$step('createOther', fn () => $client->create($userId, ['workspace_ref' => 'workspace://other'] + $create));
$step('started', fn () => $client->events($userId, $workerId, ['event' => ['event_type' => 'worker.started', 'payload' => null]]));
$step('handshake', fn () => $client->events($userId, $workerId, ['event' => [
    'event_type' => 'worker.event',
    'payload' => ['source' => 'autopilot-ios', 'method' => 'ios/handshake', 'handshake_id' => "hs_$suffix"],
]]));
$control = ['request' => [
    'request_id' => 'req_1',
    'method' => 'turn/start',
    'params' => ['thread_id' => 'thread_1', 'text' => 'continue'],
    'request_version' => 'v1',
    'sent_at' => '2026-02-22T00:00:00Z',
    'source' => 'autopilot-ios',
]];
$step('request', fn () => $client->request($userId, $workerId, $control));
$step('requestAgain', fn () => $client->request($userId, $workerId, $control));
$step('requestEmptyParams', fn () => $client->request($userId, $workerId, ['request' => [
    'request_id' => 'req_2', 'method' => 'thread/list', 'params' => [],
]]));
$step('index', fn () => $client->index($userId, ['status' => 'running', 'workspace_ref' => 'workspace://demo', 'limit' => 5]));
$step('show', fn () => $client->show($userId, $workerId));
$step('otherUser', fn () => $client->show($userId + 1, $workerId));
$step('stop', fn () => $client->stop($userId, $workerId));
$step('stopAgain', fn () => $client->stop($userId, $workerId, ['reason' => 'done']));
$step('stopped', fn () => $client->events($userId, $workerId, ['event' => ['event_type' => 'worker.stopped']]));
$step('eventWhenStopped', fn () => $client->events($userId, $workerId, ['event' => ['event_type' => 'worker.event']]));
$step('requestWhenStopped', fn () => $client->request($userId, $workerId, ['request' => [
    'request_id' => 'req_3', 'method' => 'turn/start', 'params' => [],
]]));
$step('stream', fn () => $client->stream($userId, $workerId, ['cursor' => 2]));
$step('streamByHeader', fn () => $client->stream($userId, $workerId, [], '6'));
$step('reattach', fn () => $client->create($userId, $create));

echo json_encode($report, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
