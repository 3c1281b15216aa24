<?php
// Debian's packaged Illuminate HTTP client (Laravel 8) and Guzzle: no Composer needed.
declare(strict_types=1);

require_once '/usr/share/php/GuzzleHttp/autoload.php';
require_once '/usr/share/php/Illuminate/Http/autoload.php';
require_once __DIR__ . '/TokenFactory.php';
require_once __DIR__ . '/RuntimeError.php';
require_once __DIR__ . '/RuntimeClient.php';
