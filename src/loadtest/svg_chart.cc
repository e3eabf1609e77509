#include "loadtest/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ember::loadtest {
namespace {

constexpr double kW = 820, kH = 480, kLeft = 80, kRight = 90, kTop = 50, kBottom = 70;

std::string esc(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// A "nice" axis top (1, 2 or 5 times a power of ten) at or above v.
double nice_top(double v) {
  if (v <= 0) return 1;
  const double p = std::pow(10, std::floor(std::log10(v)));
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%g", v);
  return b;
}

}  // namespace

std::string render_svg(const ChartSpec& c) {
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  double top[2] = {0, 0};
  for (const auto& s : c.series)
    for (const double v : s.y) top[s.right_axis] = std::max(top[s.right_axis], v);
  top[0] = nice_top(top[0] * 1.05);
  top[1] = nice_top(top[1] * 1.05);
  const size_t n = c.x.size();
  auto px = [&](size_t i) { return kLeft + (n <= 1 ? pw / 2 : pw * i / double(n - 1)); };
  auto py = [&](double v, bool right) { return kTop + ph * (1 - v / top[right]); };

  std::string out;
  char b[512];
  std::snprintf(b, sizeof(b),
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
                "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                kW, kH, kW, kH);
  out += b;
  out += "<text x=\"" + num(kW / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">" +
         esc(c.title) + "</text>\n";
  // Grid and tick labels: 5 steps on both axes.
  for (int k = 0; k <= 5; ++k) {
    const double y = kTop + ph * (1 - k / 5.0);
    std::snprintf(b, sizeof(b),
                  "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#ddd\"/>\n"
                  "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%s</text>\n"
                  "<text x=\"%g\" y=\"%g\">%s</text>\n",
                  kLeft, y, kLeft + pw, y, kLeft - 6, y + 4, num(top[0] * k / 5).c_str(),
                  kLeft + pw + 6, y + 4, num(top[1] * k / 5).c_str());
    out += b;
  }
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof(b), "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n", px(i),
                  kTop + ph + 18, num(c.x[i]).c_str());
    out += b;
  }
  std::snprintf(b, sizeof(b),
                "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
                "stroke=\"#444\"/>\n",
                kLeft, kTop, pw, ph);
  out += b;
  out += "<text x=\"" + num(kLeft + pw / 2) + "\" y=\"" + num(kH - 30) +
         "\" text-anchor=\"middle\">" + esc(c.x_label) + "</text>\n";
  out += "<text transform=\"translate(20," + num(kTop + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + esc(c.left_label) + "</text>\n";
  out += "<text transform=\"translate(" + num(kW - 20) + "," + num(kTop + ph / 2) +
         ") rotate(90)\" text-anchor=\"middle\">" + esc(c.right_label) + "</text>\n";
  // Series: a polyline with dots, and a legend entry below the plot.
  double legend_x = kLeft;
  for (const auto& s : c.series) {
    std::string pts;
    for (size_t i = 0; i < std::min(n, s.y.size()); ++i)
      pts += num(px(i)) + "," + num(py(s.y[i], s.right_axis)) + " ";
    out += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + esc(s.color) + "\"" +
           (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + pts + "\"/>\n";
    for (size_t i = 0; i < std::min(n, s.y.size()); ++i) {
      std::snprintf(b, sizeof(b), "<circle cx=\"%g\" cy=\"%g\" r=\"3\" fill=\"%s\"/>\n", px(i),
                    py(s.y[i], s.right_axis), esc(s.color).c_str());
      out += b;
    }
    std::snprintf(b, sizeof(b),
                  "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
                  "stroke-width=\"2\"%s/><text x=\"%g\" y=\"%g\">%s</text>\n",
                  legend_x, kH - 10, legend_x + 20, kH - 10, esc(s.color).c_str(),
                  s.dashed ? " stroke-dasharray=\"6 4\"" : "", legend_x + 25, kH - 6,
                  esc(s.name + (s.right_axis ? " (right)" : "")).c_str());
    out += b;
    legend_x += 40 + 8.0 * static_cast<double>(s.name.size() + (s.right_axis ? 8 : 0));
  }
  out += "</svg>\n";
  return out;
}

}  // namespace ember::loadtest
