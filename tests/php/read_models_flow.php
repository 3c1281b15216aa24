<?php
// A run and an agent through the REST API, then Laravel's read models read back with Laravel's
// own query builder (Debian's illuminate/database, Capsule) over PDO: what a Laravel app serving
// its conversation, run, message, event and agent APIs from those tables would see. Prints a JSON report
// (tests/php/test_laravel_interop.py asserts on it).
// Usage: php read_models_flow.php <base url> <secret for key id runtime-v1> <suffix> <connection JSON>
// The connection is a Laravel `database.connections` entry: on PostgreSQL `schema` names the
// read models' schema (RUNTIME_READ_MODEL_SCHEMA); on SQLite `prefix` is their table prefix.
declare(strict_types=1);

require __DIR__ . '/bootstrap.php';
require_once __DIR__ . '/AgentsClient.php';
require_once '/usr/share/php/Illuminate/Database/autoload.php';

use Illuminate\Database\Capsule\Manager as Capsule;
use Illuminate\Http\Client\Factory;
use OpenAgents\Runtime\AgentsClient;
use OpenAgents\Runtime\RuntimeClient;
use OpenAgents\Runtime\TokenFactory;

[, $baseUrl, $secret, $suffix, $connection] = $argv;
$client = new RuntimeClient(new Factory(), $baseUrl, new TokenFactory($secret));
$userId = 42;
$runId = "run-rm-$suffix";
$threadId = "thread-rm-$suffix";

$client->startRun([
    'runId' => $runId,
    'threadId' => $threadId,
    'userId' => $userId,
    'prompt' => "/say Hello from the read models\n/tool echo {\"n\": 1}\n/say after a tool",
]);
$client->streamRun($runId, $userId, function (string $bytes): void {
});
$api = [
    'run' => $client->getRun($runId, $userId)['run'],
    'thread' => $client->getThreadState($threadId, $userId),
];

$capsule = new Capsule();
$capsule->addConnection(json_decode($connection, true, 512, JSON_THROW_ON_ERROR));
$db = $capsule->getConnection();

// The projection is asynchronous: wait until a row has reached its stream's last event, as a
// Laravel page would show it a moment later.
$projected = function (string $table, string $key, string $id, int $lastSeq) use ($db): void {
    $deadline = microtime(true) + 30;
    while (($db->table($table)->where($key, $id)->value('last_seq') ?? 0) < $lastSeq) {
        if (microtime(true) > $deadline) {
            fwrite(STDERR, "$table row of $id not at seq $lastSeq within 30 s\n");
            exit(1);
        }
        usleep(50_000);
    }
};
$projected('runs', 'run_id', $runId, (int) $api['run']['lastSeq']);

$rows = fn ($query) => $query->get()->map(fn ($row) => (array) $row)->all();
$readModels = [
    'threads' => $rows($db->table('threads')->where('thread_id', $threadId)),
    'runs' => $rows($db->table('runs')->where('thread_id', $threadId)->orderBy('created_at')),
    'messages' => $rows($db->table('messages')->where('thread_id', $threadId)
        ->orderBy('created_at')->orderBy('run_id')->orderBy('seq')),
    'runEvents' => $rows($db->table('run_events')->where('run_id', $runId)->orderBy('seq')),
    'eventCount' => $db->table('run_events')->where('run_id', $runId)->count(),
    'userThreads' => $db->table('threads')->where('user_id', $userId)->pluck('thread_id')->all(),
];

// An agent's turn, then its row in the `agents` table (a Laravel page listing a user's agents).
$agents = new AgentsClient(new Factory(), $baseUrl, new TokenFactory($secret));
$agentId = "agent_rm_$suffix";
$agents->create($userId, ['agentId' => $agentId, 'threadId' => "thread_rm_agent_$suffix", 'userId' => $userId]);
$agents->frames($userId, $agentId, [
    ['frameId' => 'f1', 'kind' => 'FRAME_KIND_USER_PROMPT', 'text' => '/say hello from the agents table'],
]);
$agent = null;
for ($i = 0; $i < 1500; $i++) {
    $agent = $agents->show($agentId)['body']['agent'];
    if ($agent['turnCount'] >= 1 && $agent['state'] === 'AGENT_STATE_SLEEPING') {
        break;
    }
    usleep(20_000);
}
$projected('agents', 'agent_id', $agentId, (int) $agent['lastSeq']);
$agentRow = (array) $db->table('agents')->where('agent_id', $agentId)->first();
$api['agent'] = $agent;
$readModels['agent'] = $agentRow;
$readModels['userAgents'] = $db->table('agents')->where('user_id', $userId)->pluck('agent_id')->all();
$readModels['turnMessages'] = $db->table('messages')->where('run_id', $agentRow['last_turn_run_id'])
    ->pluck('content')->all();

echo json_encode(['api' => $api, 'readModels' => $readModels], JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
