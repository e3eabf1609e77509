// A small SVG line-chart writer for load-test results: latency percentiles (left axis, ms)
// and throughput (right axis, req/s) against users or offered rate, the chart Locust users
// draw. Points are evenly spaced and labelled by their x value (user counts double).
#pragma once

#include <string>
#include <vector>

namespace ember::loadtest {

struct Series {
  std::string name;
  std::string color;
  std::vector<double> y;
  bool right_axis = false;  // plotted against the right axis
  bool dashed = false;
};

struct ChartSpec {
  std::string title;
  std::string x_label, left_label, right_label;
  std::vector<double> x;
  std::vector<Series> series;
};

std::string render_svg(const ChartSpec& chart);

}  // namespace ember::loadtest
