<?php
// The flows' report: each step's answer, or the runtime's error as PHP decoded it.
declare(strict_types=1);

use OpenAgents\Runtime\RuntimeError;

function run_step(array &$report, string $name, callable $call): void
{
    try {
        $report[$name] = ['ok' => $call()];
    } catch (RuntimeError $error) {
        $report[$name] = ['error' => [
            'httpStatus' => $error->httpStatus,
            'code' => $error->grpcCode,
            'reason' => $error->reason,
            'domain' => $error->domain,
            'metadata' => $error->metadata,
            'message' => $error->getMessage(),
        ]];
    }
}
