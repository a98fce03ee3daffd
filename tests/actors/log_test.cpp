// One logger per subsystem, named once in actors/log.hpp.

#include <set>
#include <string>

#include <boost/test/unit_test.hpp>

#include <actors/log.hpp>

using namespace switchboard;

BOOST_AUTO_TEST_SUITE(log_suite)

BOOST_AUTO_TEST_CASE(each_subsystem_has_one_logger_under_its_own_name) {
  std::set<std::string> names;
  for (auto s :
       {log::subsystem::app, log::subsystem::caf, log::subsystem::calls,
        log::subsystem::cluster, log::subsystem::dispatcher,
        log::subsystem::http, log::subsystem::http_access,
        log::subsystem::listeners, log::subsystem::node,
        log::subsystem::providers, log::subsystem::queue,
        log::subsystem::router, log::subsystem::stats, log::subsystem::store}) {
    auto lg = log::get(s);
    BOOST_REQUIRE(lg != nullptr);
    BOOST_TEST(lg->name() == log::name_of(s));
    BOOST_TEST(log::get(s) == lg, "a second logger for " << lg->name());
    names.insert(lg->name());
  }
  BOOST_TEST(names.size() == 14u);
  BOOST_TEST(names.count("http.access") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
