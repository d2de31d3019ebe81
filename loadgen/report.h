// report.h: what a run looks like to people: the wrk-style summary on
// stdout and a one-line live progress. (LoadResult::to_json, the machine
// format, is defined in report.cpp too; its schema is in README.md.)
#pragma once

#include <string>

#include "load.h"

namespace cb::loadgen {

// Multi-line summary: latency table, requests/s, transfer/s, status classes,
// errors (with the first error's reason), CPU, and the saturation warning.
std::string format_summary(const LoadResult& r);

// "measuring  12.3s  1234567 requests  0 errors  100 open"
std::string format_progress(const Progress& p);

// One line describing the target and load shape, shared by the summary.
std::string describe(const LoadConfig& c);

}  // namespace cb::loadgen
