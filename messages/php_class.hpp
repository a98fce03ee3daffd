#pragma once

// The snake_case name of a PHP class, as the Laravel exports spell the
// aggregate and event classes.

#include <string>
#include <string_view>

namespace switchboard {

/// The class name of `php_class` without its namespace, in snake_case:
/// "Appointment", "App\Models\Appointment", "appointment" → "appointment";
/// "App\Events\CallStarted" → "call_started".
std::string php_class_snake_name(std::string_view php_class);

} // namespace switchboard
