<?php
// Drives AgentsClient through an agent's life against a running stack and prints a JSON report
// of every step (tests/php/test_agents_interop.py asserts on it).
// Usage: php agents_flow.php <base url> <secret for key id runtime-v1> <unique suffix>
declare(strict_types=1);

require __DIR__ . '/bootstrap.php';
require_once __DIR__ . '/steps.php';
require_once __DIR__ . '/AgentsClient.php';

use Illuminate\Http\Client\Factory;
use OpenAgents\Runtime\AgentsClient;
use OpenAgents\Runtime\TokenFactory;

[, $baseUrl, $secret, $suffix] = $argv;
$client = new AgentsClient(new Factory(), $baseUrl, new TokenFactory($secret));
$userId = 42;
$agentId = "agent_php_$suffix";
$report = [];

$step = function (string $name, callable $call) use (&$report): void {
    run_step($report, $name, $call);
};

$agent = [
    'agentId' => $agentId,
    'threadId' => "thread_php_$suffix",
    'userId' => $userId,
    'instructions' => 'Answer briefly.',
    'inputPolicy' => 'INPUT_POLICY_ENQUEUE',
    'schedules' => [['scheduleId' => 'daily', 'cron' => '0 9 * * 1-5', 'timeZone' => 'Europe/Berlin']],
    'supervisionPolicy' => ['turnDeadline' => '120s', 'maxRestarts' => 2],
];
$frames = [
    ['frameId' => 'f1', 'kind' => 'FRAME_KIND_USER_PROMPT', 'text' => '/say hello from laravel'],
    ['frameId' => 'f2', 'kind' => 'FRAME_KIND_SIGNAL', 'data' => ['price' => 101.5, 'symbol' => 'ACME'],
        'occurredAt' => '2026-11-30T09:00:00Z'],
];
$step('create', fn () => $client->create($userId, $agent));
$step('createAgain', fn () => $client->create($userId, $agent));
$step('createOther', fn () => $client->create($userId, ['instructions' => 'Something else.'] + $agent));
$step('frames', fn () => $client->frames($userId, $agentId, $frames));
$step('framesAgain', fn () => $client->frames($userId, $agentId, $frames));
$step('frameConflict', fn () => $client->frames($userId, $agentId, [['text' => '/say other'] + $frames[0]]));
$step('otherUser', fn () => $client->frames($userId + 1, $agentId, $frames));
$step('afterTurn', function () use ($client, $agentId) {
    for ($i = 0; $i < 500; $i++) {
        $shown = $client->show($agentId);
        $agent = $shown['body']['agent'];
        if ($agent['turnCount'] >= 1 && $agent['state'] === 'AGENT_STATE_SLEEPING') {
            return $shown;
        }
        usleep(20_000);
    }
    throw new RuntimeException('the agent never finished its turn');
});
$step('wake', fn () => $client->wake($agentId));
$step('sleep', fn () => $client->sleep($agentId));

echo json_encode($report, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
