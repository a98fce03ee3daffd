#pragma once

// The names a test of the real daemon uses unqualified: the fixture, its
// HTTP client and answers, the helpers of daemon_fixture.hpp, times from
// now, chrono literals and Boost.JSON as `json`.

#include <boost/json.hpp>

#include "tests/app/daemon_fixture.hpp"
#include "tests/support/times.hpp"

using namespace std::chrono_literals;
using switchboard::test::book;
using switchboard::test::child_process;
using switchboard::test::created;
using switchboard::test::daemon_fixture;
using switchboard::test::eventually;
using switchboard::test::http_client;
using switchboard::test::http_reply;
using switchboard::test::memory_bytes;
using switchboard::test::ok_json;
using switchboard::test::post_service;
using switchboard::test::post_staff;
using switchboard::test::race;
using switchboard::test::seed;
using switchboard::test::seed_service;
using switchboard::test::strings_of;
using switchboard::test::succeeded;
using switchboard::test::unix_time;
using switchboard::test::utc_at;
namespace json = boost::json;
