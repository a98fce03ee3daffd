#pragma once

// What every store test starts with: the fixture, and the store's names
// and the fixture's in scope. For the store tests' own files only: other
// test directories include the fixture, which brings no names in.

#include "tests/store/fixture.hpp"

using namespace switchboard;
using namespace switchboard::store;
using namespace switchboard::store::test;
