#pragma once

// The names a test of broadcasting uses unqualified: daemon_names.hpp's,
// and broadcast_fixture.hpp's fixture, app credentials, signatures,
// WebSocket client and what a frame holds.

#include "tests/app/broadcast_fixture.hpp"
#include "tests/app/daemon_names.hpp"

using switchboard::test::app_id;
using switchboard::test::app_key;
using switchboard::test::app_secret;
using switchboard::test::broadcast_fixture;
using switchboard::test::error_code;
using switchboard::test::event_of;
using switchboard::test::hmac;
using switchboard::test::md5;
using switchboard::test::ws_client;
