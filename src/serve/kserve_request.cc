#include "serve/kserve_request.h"

#include <limits>

#include "core/error.h"
#include "serve/errors.h"

namespace ember::serve::kserve {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw HttpError(400, error_type::kValidation, message);
}

const nlohmann::json* find(const nlohmann::json& obj, const char* key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const nlohmann::json& obj, const char* key, const std::string& where) {
  const auto* v = find(obj, key);
  if (!v || !v->is_string()) bad(cat(where, ": \"", key, "\" must be a string"));
  return v->get<std::string>();
}

// "parameters" of a tensor or of the request: an object or absent.
const nlohmann::json* parameters_of(const nlohmann::json& obj, const std::string& where) {
  const auto* p = find(obj, "parameters");
  if (p && !p->is_object()) bad(cat(where, ": \"parameters\" must be an object"));
  return p;
}

bool get_flag(const nlohmann::json* params, const char* key, const std::string& where) {
  if (!params) return false;
  const auto* v = find(*params, key);
  if (!v) return false;
  if (!v->is_boolean()) bad(cat(where, ": parameter \"", key, "\" must be true or false"));
  return v->get<bool>();
}

// JSON "data" of a BYTES tensor, flat or nested row-major: every leaf must be a string.
void flatten_texts(const nlohmann::json& data, std::vector<std::string>& out,
                   const std::string& where, int depth) {
  if (depth > 8) bad(cat(where, ": \"data\" is nested too deeply"));
  if (data.is_string()) {
    out.push_back(data.get<std::string>());
  } else if (data.is_array()) {
    for (const auto& d : data) flatten_texts(d, out, where, depth + 1);
  } else {
    bad(cat(where, ": BYTES \"data\" elements must be strings"));
  }
}

// Counts the JSON elements of a non-BYTES tensor, so that its shape can be checked.
int64_t count_leaves(const nlohmann::json& data, int depth) {
  if (!data.is_array()) return 1;
  if (depth > 8) bad("\"data\" is nested too deeply");
  int64_t n = 0;
  for (const auto& d : data) n += count_leaves(d, depth + 1);
  return n;
}

}  // namespace

int64_t element_count(const std::vector<int64_t>& shape, std::string_view what) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0) bad(cat(what, ": shape dimensions must be >= 0"));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      bad(cat(what, ": shape is too large"));
    n *= d;
  }
  return n;
}

std::vector<std::string> decode_bytes_elements(std::string_view raw, std::string_view what) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4)
      bad(cat(what, ": binary BYTES data ends inside an element's 4-byte length at byte ", pos));
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + pos);
    const uint32_t len =
        uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    pos += 4;
    if (len > raw.size() - pos)
      bad(cat(what, ": binary BYTES element at byte ", pos - 4, " has length ", len, " but only ",
              raw.size() - pos, " bytes follow"));
    out.emplace_back(raw.substr(pos, len));
    pos += len;
  }
  return out;
}

size_t parse_header_length(std::string_view value, size_t body_size) {
  size_t n = 0;
  if (value.empty() || value.size() > 19) bad("Inference-Header-Content-Length must be a number");
  for (const char c : value) {
    if (c < '0' || c > '9') bad("Inference-Header-Content-Length must be a number");
    n = n * 10 + size_t(c - '0');
  }
  if (n > body_size)
    bad(cat("Inference-Header-Content-Length ", n, " is larger than the body (", body_size,
            " bytes)"));
  return n;
}

InferRequest parse_http_infer(std::string_view body, std::optional<size_t> header_length) {
  const size_t json_size = header_length.value_or(body.size());
  if (json_size > body.size()) bad("Inference-Header-Content-Length is larger than the body");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body.substr(0, json_size));
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range
    bad(cat("malformed JSON: ", e.what()));
  }
  if (!j.is_object()) bad("the inference request must be a JSON object");

  InferRequest req;
  if (const auto* id = find(j, "id")) {
    if (!id->is_string()) bad("\"id\" must be a string");
    req.id = id->get<std::string>();
  }
  if (const auto* p = parameters_of(j, "request")) {
    req.parameters = *p;
    req.binary_data_output = get_flag(p, "binary_data_output", "request");
  }

  const auto* inputs = find(j, "inputs");
  if (!inputs || !inputs->is_array() || inputs->empty())
    bad("\"inputs\" must be a non-empty list of tensors");
  std::string_view binary = body.substr(json_size);
  for (size_t i = 0; i < inputs->size(); ++i) {
    const auto& t = (*inputs)[i];
    const std::string where = cat("inputs[", i, "]");
    if (!t.is_object()) bad(cat(where, " must be an object"));
    InputTensor in;
    in.name = get_string(t, "name", where);
    in.datatype = get_string(t, "datatype", where);
    const auto* shape = find(t, "shape");
    if (!shape || !shape->is_array()) bad(cat(where, ": \"shape\" must be a list of integers"));
    for (const auto& d : *shape) {
      if (!d.is_number_integer()) bad(cat(where, ": \"shape\" must be a list of integers"));
      in.shape.push_back(d.get<int64_t>());
    }
    const int64_t count = element_count(in.shape, where);
    const auto* params = parameters_of(t, where);
    const auto* size = params ? find(*params, "binary_data_size") : nullptr;
    const auto* data = find(t, "data");
    if (size) {
      if (!header_length)
        bad(cat(where, ": \"binary_data_size\" without an Inference-Header-Content-Length header"));
      if (data) bad(cat(where, ": both \"data\" and \"binary_data_size\""));
      if (!size->is_number_unsigned()) bad(cat(where, ": \"binary_data_size\" must be >= 0"));
      const auto n = size->get<uint64_t>();
      if (n > binary.size())
        bad(cat(where, ": \"binary_data_size\" ", n, " is more than the ", binary.size(),
                " bytes of binary data left"));
      const auto raw = binary.substr(0, n);
      binary.remove_prefix(n);
      if (in.datatype == "BYTES") in.texts = decode_bytes_elements(raw, where);
    } else {
      if (!data) bad(cat(where, ": no \"data\" (nor \"binary_data_size\")"));
      if (in.datatype == "BYTES") {
        flatten_texts(*data, in.texts, where, 0);
      } else if (count_leaves(*data, 0) != count) {
        bad(cat(where, ": ", count_leaves(*data, 0), " elements do not match shape"));
      }
    }
    if (in.datatype == "BYTES" && static_cast<int64_t>(in.texts.size()) != count)
      bad(cat(where, ": ", in.texts.size(), " elements do not match shape (", count, " elements)"));
    req.inputs.push_back(std::move(in));
  }
  if (!binary.empty())
    bad(cat(binary.size(), " bytes of binary data after the last input tensor's"));

  if (const auto* outputs = find(j, "outputs")) {
    if (!outputs->is_array()) bad("\"outputs\" must be a list");
    for (size_t i = 0; i < outputs->size(); ++i) {
      const auto& o = (*outputs)[i];
      const std::string where = cat("outputs[", i, "]");
      if (!o.is_object()) bad(cat(where, " must be an object"));
      RequestedOutput out;
      out.name = get_string(o, "name", where);
      const auto* params = parameters_of(o, where);
      out.binary = params && find(*params, "binary_data") ? get_flag(params, "binary_data", where)
                                                          : req.binary_data_output;
      req.outputs.push_back(std::move(out));
    }
  }
  return req;
}

}  // namespace ember::serve::kserve
