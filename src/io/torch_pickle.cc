#include "io/torch_pickle.h"

#include <cstring>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "core/tensor.h"

namespace ember::io {
namespace {

// Values live in one arena and refer to each other by index: no reference cycles, no recursive
// destruction, whatever the pickle does with its memo.
enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kTuple,
  kList,
  kDict,
  kGlobal,
  kStorage,
  kTensor,
};

struct Value {
  Kind kind = Kind::kNone;
  int64_t i = 0;
  std::string s;                // string; global "module.name"; storage key
  std::vector<uint32_t> items;  // tuple / list items; dict keys and values interleaved
  TorchTensorRecord tensor;
};

// Far more values than any state dict needs; a bound on memory for hostile input.
constexpr size_t kMaxValues = 1u << 22;
constexpr size_t kMaxMemo = 1u << 22;

const std::pair<std::string_view, DType> kStorageTypes[] = {
    {"torch.FloatStorage", DType::kF32}, {"torch.DoubleStorage", DType::kF64},
    {"torch.HalfStorage", DType::kF16},  {"torch.BFloat16Storage", DType::kBF16},
    {"torch.LongStorage", DType::kI64},  {"torch.IntStorage", DType::kI32},
    {"torch.ShortStorage", DType::kI16}, {"torch.CharStorage", DType::kI8},
    {"torch.ByteStorage", DType::kU8},   {"torch.BoolStorage", DType::kBool},
};
constexpr std::string_view kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr std::string_view kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr std::string_view kOrderedDict = "collections.OrderedDict";

bool allowed_global(const std::string& name) {
  if (name == kRebuildTensor || name == kRebuildParameter || name == kOrderedDict) return true;
  for (const auto& [type, dtype] : kStorageTypes)
    if (name == type) return true;
  return false;
}

class Interpreter {
 public:
  Interpreter(std::span<const uint8_t> bytes, const std::string& origin)
      : in_(bytes), origin_(origin) {}

  TorchPickle run();

 private:
  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorKind::kInvalidInput, origin_, ": byte ", op_pos_, ": ", args...);
  }

  const uint8_t* take(size_t n) {
    if (n > in_.size() - pos_) bad("pickle ends in the middle of an opcode");
    const uint8_t* p = in_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | p[k];
    return v;
  }
  std::string line() {
    const auto* begin = in_.data() + pos_;
    const void* nl = std::memchr(begin, '\n', in_.size() - pos_);
    if (nl == nullptr) bad("GLOBAL without a newline");
    const size_t n = static_cast<size_t>(static_cast<const uint8_t*>(nl) - begin);
    pos_ += n + 1;
    return std::string(reinterpret_cast<const char*>(begin), n);
  }

  uint32_t make(Value v) {
    if (values_.size() >= kMaxValues) bad("too many objects");
    values_.push_back(std::move(v));
    return static_cast<uint32_t>(values_.size() - 1);
  }
  uint32_t make_int(int64_t i) {
    Value v;
    v.kind = Kind::kInt;
    v.i = i;
    return make(std::move(v));
  }
  uint32_t make_kind(Kind k) {
    Value v;
    v.kind = k;
    return make(std::move(v));
  }
  void push(uint32_t id) { stack_.push_back(id); }
  uint32_t pop() {
    if (stack_.size() <= floor()) bad("stack underflow");
    const uint32_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  uint32_t top() {
    if (stack_.size() <= floor()) bad("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  // Pops everything above the last MARK, in order.
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) bad("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  uint32_t make_tuple(std::vector<uint32_t> items) {
    Value v;
    v.kind = Kind::kTuple;
    v.items = std::move(items);
    return make(std::move(v));
  }
  Value& at(uint32_t id) { return values_[id]; }
  Value& expect(uint32_t id, Kind k, const char* what) {
    if (values_[id].kind != k) bad("expected ", what);
    return values_[id];
  }
  void memo_put(uint64_t key) {
    if (key >= kMaxMemo) bad("memo index ", key, " is out of range");
    memo_[key] = top();
  }
  void memo_get(uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) bad("memo index ", key, " was never stored");
    push(it->second);
  }
  void set_items(uint32_t dict, const std::vector<uint32_t>& kv) {
    if (kv.size() % 2 != 0) bad("SETITEMS with an odd number of items");
    Value& d = expect(dict, Kind::kDict, "a dict for SETITEM");
    d.items.insert(d.items.end(), kv.begin(), kv.end());
  }
  void append(uint32_t list, const std::vector<uint32_t>& items) {
    Value& l = expect(list, Kind::kList, "a list for APPEND");
    l.items.insert(l.items.end(), items.begin(), items.end());
  }

  void global(std::string name) {
    if (!allowed_global(name))
      fail(ErrorKind::kUnsupported, origin_, ": byte ", op_pos_, ": refused global '", name,
           "': a checkpoint may only name torch's tensor-rebuild functions, its storage types "
           "and collections.OrderedDict (nothing in the file is executed)");
    Value v;
    v.kind = Kind::kGlobal;
    v.s = std::move(name);
    push(make(std::move(v)));
  }
  void persistent_load();
  void reduce();
  uint32_t rebuild_tensor(const std::vector<uint32_t>& args);
  TorchPickle result(uint32_t id);

  std::span<const uint8_t> in_;
  const std::string& origin_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<Value> values_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::map<std::string, TorchStorage> storages_;
};

// ('storage', <storage type>, key, location, numel): how torch.save names a storage.
void Interpreter::persistent_load() {
  const Value& pid = expect(pop(), Kind::kTuple, "a persistent id tuple");
  if (pid.items.size() != 5 || at(pid.items[0]).kind != Kind::kString ||
      at(pid.items[0]).s != "storage")
    bad("persistent id is not ('storage', type, key, location, numel)");
  const Value& type = at(pid.items[1]);
  DType dtype = DType::kF32;
  bool known = false;
  if (type.kind == Kind::kGlobal)
    for (const auto& [name, d] : kStorageTypes)
      if (type.s == name) {
        dtype = d;
        known = true;
      }
  if (!known) bad("persistent id names no storage type");
  const Value& key = at(pid.items[2]);
  const Value& numel = at(pid.items[4]);
  if (key.kind != Kind::kString || key.s.empty()) bad("storage key must be a non-empty string");
  if (numel.kind != Kind::kInt || numel.i < 0) bad("storage size must be a non-negative integer");
  const auto it = storages_.find(key.s);
  if (it != storages_.end() && (it->second.dtype != dtype || it->second.numel != numel.i))
    bad("storage '", key.s, "' is declared twice with different types or sizes");
  storages_[key.s] = TorchStorage{key.s, dtype, numel.i};
  Value v;
  v.kind = Kind::kStorage;
  v.s = key.s;
  v.tensor.dtype = dtype;
  v.i = numel.i;
  push(make(std::move(v)));
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
// metadata]): a view of `size` elements of the storage, which must be dense row-major.
uint32_t Interpreter::rebuild_tensor(const std::vector<uint32_t>& args) {
  if (args.size() < 4 || args.size() > 7) bad("_rebuild_tensor_v2 takes 4 to 7 arguments");
  const Value& storage =
      expect(args[0], Kind::kStorage, "a storage as the tensor's first argument");
  const Value& offset = expect(args[1], Kind::kInt, "an integer storage offset");
  const Value& size = expect(args[2], Kind::kTuple, "a tuple of sizes");
  const Value& stride = expect(args[3], Kind::kTuple, "a tuple of strides");
  if (offset.i < 0) bad("negative storage offset");
  if (size.items.size() != stride.items.size()) bad("sizes and strides differ in rank");
  if (size.items.size() > static_cast<size_t>(Shape::kMaxRank))
    fail(ErrorKind::kUnsupported, origin_, ": tensor of rank ", size.items.size(),
         " exceeds the maximum of ", Shape::kMaxRank);
  TorchTensorRecord t;
  t.storage_key = storage.s;
  t.dtype = storage.tensor.dtype;
  t.storage_offset = offset.i;
  int64_t numel = 1;
  for (uint32_t id : size.items) {
    const Value& d = expect(id, Kind::kInt, "integer sizes");
    if (d.i < 0) bad("negative size");
    if (__builtin_mul_overflow(numel, d.i, &numel)) bad("tensor size overflows");
    t.shape.push_back(d.i);
  }
  // Dense row-major: each stride is the product of the sizes after it (dimensions of size 1,
  // and empty tensors, may carry any stride).
  int64_t expected = 1;
  for (size_t k = t.shape.size(); k-- > 0;) {
    const Value& s = expect(stride.items[k], Kind::kInt, "integer strides");
    if (t.shape[k] != 1 && numel != 0 && s.i != expected)
      fail(ErrorKind::kUnsupported, origin_, ": tensor with strides that are not dense row-major");
    expected *= t.shape[k];
  }
  int64_t end = 0;
  if (__builtin_add_overflow(offset.i, numel, &end) || (numel > 0 && end > storage.i))
    bad("tensor of ", numel, " elements at offset ", offset.i, " runs past its storage of ",
        storage.i, " elements");
  Value v;
  v.kind = Kind::kTensor;
  v.tensor = std::move(t);
  return make(std::move(v));
}

void Interpreter::reduce() {
  const uint32_t args_id = pop();
  const uint32_t callable = pop();
  const Value& fn = expect(callable, Kind::kGlobal, "a global to call");
  const std::vector<uint32_t> args = expect(args_id, Kind::kTuple, "an argument tuple").items;
  if (fn.s == kOrderedDict) {
    if (!args.empty()) bad("OrderedDict called with arguments");
    push(make_kind(Kind::kDict));
  } else if (fn.s == kRebuildTensor) {
    push(rebuild_tensor(args));
  } else if (fn.s == kRebuildParameter) {
    if (args.empty()) bad("_rebuild_parameter without a tensor");
    expect(args[0], Kind::kTensor, "a tensor for _rebuild_parameter");
    push(args[0]);
  } else {
    bad("global '", fn.s, "' is not callable here");
  }
}

TorchPickle Interpreter::result(uint32_t id) {
  const Value& d = at(id);
  if (d.kind != Kind::kDict)
    fail(ErrorKind::kUnsupported, origin_, ": the pickle is not a state dict (a dict of tensors)");
  TorchPickle out;
  for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
    const Value& key = at(d.items[k]);
    const Value& value = at(d.items[k + 1]);
    if (key.kind != Kind::kString)
      fail(ErrorKind::kUnsupported, origin_, ": state dict key is not a string");
    if (value.kind != Kind::kTensor)
      fail(ErrorKind::kUnsupported, origin_, ": state dict entry '", key.s,
           "' is not a tensor (nested checkpoints are not supported)");
    out.tensors[key.s] = value.tensor;
  }
  out.storages = storages_;
  return out;
}

TorchPickle Interpreter::run() {
  values_.reserve(256);
  while (true) {
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80:  // PROTO
        if (*take(1) > 5) bad("pickle protocol above 5");
        break;
      case 0x95:  // FRAME: a length hint only
        take(8);
        break;
      case '.':  // STOP
        return result(pop());
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        pop();
        break;
      case '1':  // POP_MARK
        pop_mark();
        break;
      case '2':  // DUP
        push(top());
        break;
      case '}':  // EMPTY_DICT
        push(make_kind(Kind::kDict));
        break;
      case ']':  // EMPTY_LIST
        push(make_kind(Kind::kList));
        break;
      case ')':  // EMPTY_TUPLE
        push(make_tuple({}));
        break;
      case 't':  // TUPLE
        push(make_tuple(pop_mark()));
        break;
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        const size_t n = static_cast<size_t>(op - 0x84);
        std::vector<uint32_t> items(n);
        for (size_t k = n; k-- > 0;) items[k] = pop();
        push(make_tuple(std::move(items)));
        break;
      }
      case 'l': {  // LIST
        const uint32_t list = make_kind(Kind::kList);
        append(list, pop_mark());
        push(list);
        break;
      }
      case 'd': {  // DICT
        const uint32_t dict = make_kind(Kind::kDict);
        set_items(dict, pop_mark());
        push(dict);
        break;
      }
      case 'a': {  // APPEND
        const uint32_t item = pop();
        append(top(), {item});
        break;
      }
      case 'e': {  // APPENDS
        const auto items = pop_mark();
        append(top(), items);
        break;
      }
      case 's': {  // SETITEM
        const uint32_t value = pop();
        const uint32_t key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        const auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'N':  // NONE
        push(make_kind(Kind::kNone));
        break;
      case 0x88:    // NEWTRUE
      case 0x89: {  // NEWFALSE
        Value v;
        v.kind = Kind::kBool;
        v.i = op == 0x88;
        push(make(std::move(v)));
        break;
      }
      case 'K':  // BININT1
        push(make_int(static_cast<int64_t>(le(1))));
        break;
      case 'M':  // BININT2
        push(make_int(static_cast<int64_t>(le(2))));
        break;
      case 'J':  // BININT
        push(make_int(static_cast<int32_t>(static_cast<uint32_t>(le(4)))));
        break;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const size_t n = *take(1);
        if (n > 8) bad("integer of ", n, " bytes");
        uint64_t v = n ? le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0) v |= ~uint64_t{0} << (8 * n);
        push(make_int(static_cast<int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT (big-endian), kept only so that such a value can be skipped
        take(8);
        push(make_kind(Kind::kFloat));
        break;
      }
      case 'X':     // BINUNICODE
      case 0x8c:    // SHORT_BINUNICODE
      case 0x8d: {  // BINUNICODE8
        const size_t n = static_cast<size_t>(le(op == 'X' ? 4 : op == 0x8c ? 1 : 8));
        const auto* p = take(n);
        Value v;
        v.kind = Kind::kString;
        v.s.assign(reinterpret_cast<const char*>(p), n);
        push(make(std::move(v)));
        break;
      }
      case 'q':  // BINPUT
        memo_put(le(1));
        break;
      case 'r':  // LONG_BINPUT
        memo_put(le(4));
        break;
      case 0x94:  // MEMOIZE
        memo_put(memo_.size());
        break;
      case 'h':  // BINGET
        memo_get(le(1));
        break;
      case 'j':  // LONG_BINGET
        memo_get(le(4));
        break;
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = line();
        global(module + "." + line());
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const Value& name = expect(pop(), Kind::kString, "a string name for STACK_GLOBAL");
        const std::string n = name.s;
        const Value& module = expect(pop(), Kind::kString, "a string module for STACK_GLOBAL");
        global(module.s + "." + n);
        break;
      }
      case 'Q':  // BINPERSID
        persistent_load();
        break;
      case 'R':  // REDUCE
        reduce();
        break;
      case 'b': {  // BUILD: only the attributes torch.save puts on a state dict (_metadata)
        pop();
        if (at(top()).kind != Kind::kDict) bad("BUILD on something other than a state dict");
        break;
      }
      default:
        bad("opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
            " is not one torch.save writes for a state dict");
    }
  }
}

}  // namespace

TorchPickle parse_torch_pickle(std::span<const uint8_t> bytes, const std::string& origin) {
  Interpreter interpreter(bytes, origin);
  return interpreter.run();
}

}  // namespace ember::io
