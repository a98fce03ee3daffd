// Which database dirties how many LMDB pages: linked into a copy of the
// daemon (build/bench/switchboard_pages, see bench/CMakeLists.txt) with
// the linker wrapping mdb_put, mdb_del, mdb_cursor_put, mdb_cursor_del and
// mdb_dbi_open. Around each write it compares the transaction's dirty page
// list before and after, and counts the pages that became dirty in the
// whole transaction (not only in a nested one: a page its parent already
// dirtied is not counted again). Those pages are what a commit writes,
// besides the free list, the main database and the meta page.
//
// LMDB does not expose the dirty list: this reads it from LMDB 0.9's
// private MDB_txn layout (parent first, the dirty list after nine
// pointer-sized fields). A self-check at start-up, on a scratch
// environment, compares the count with what a known write must dirty; on
// a mismatch the counting stays off and the output says so.
//
// Every second (and at exit) the counters go to the file named by
// LMDB_PAGES_OUT, one line per database and operation:
//   <database> <put|del|cursor_put|cursor_del> calls <n> pages <n>
// and a first line "lmdb_pages ok" or "lmdb_pages unsupported <why>".
// bench/lmdb_pages.sh runs it under the fixed-rate booking load.

#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

extern "C" {
int __real_mdb_put(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*, unsigned);
int __real_mdb_del(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*);
int __real_mdb_cursor_put(MDB_cursor*, MDB_val*, MDB_val*, unsigned);
int __real_mdb_cursor_del(MDB_cursor*, unsigned);
int __real_mdb_dbi_open(MDB_txn*, const char*, unsigned, MDB_dbi*);
}

namespace {

/// An entry of LMDB's dirty list: a page number and its page; entry 0
/// holds the count.
struct dirty_entry {
  std::size_t pgno;
  void* page;
};

constexpr std::size_t dirty_list_offset = 9 * sizeof(void*);

MDB_txn* parent_of(MDB_txn* t) {
  MDB_txn* p;
  std::memcpy(&p, t, sizeof p);
  return p;
}

const dirty_entry* dirty_list(MDB_txn* t) {
  const dirty_entry* d;
  std::memcpy(&d, reinterpret_cast<const char*>(t) + dirty_list_offset,
              sizeof d);
  return d;
}

bool listed(const dirty_entry* d, std::size_t pgno) {
  // Sorted by page number (always, without MDB_WRITEMAP).
  auto first = d + 1;
  auto last = d + 1 + d[0].pgno;
  auto it = std::lower_bound(first, last, pgno,
                             [](const dirty_entry& e, std::size_t p) {
                               return e.pgno < p;
                             });
  return it != last && it->pgno == pgno;
}

struct counter {
  unsigned long calls = 0;
  unsigned long pages = 0;
};

struct state {
  std::mutex mtx;
  bool on = false;
  std::string why = "not checked";
  std::map<MDB_dbi, std::string> names;
  std::map<std::string, counter> counts;
  std::vector<std::size_t> before;
  std::chrono::steady_clock::time_point last_dump;
  const char* out = std::getenv("LMDB_PAGES_OUT");

  void dump() {
    if (out == nullptr)
      return;
    std::string tmp = std::string{out} + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr)
      return;
    if (on)
      std::fprintf(f, "lmdb_pages ok\n");
    else
      std::fprintf(f, "lmdb_pages unsupported %s\n", why.c_str());
    for (const auto& [k, c] : counts)
      std::fprintf(f, "%s calls %lu pages %lu\n", k.c_str(), c.calls, c.pages);
    std::fclose(f);
    std::rename(tmp.c_str(), out);
  }
};

state& st() {
  static state s;
  return s;
}

/// Pages dirty in `t` now that were in none of `before` and its
/// ancestors' lists.
unsigned long fresh_pages(MDB_txn* t, const std::vector<std::size_t>& before) {
  unsigned long n = 0;
  auto d = dirty_list(t);
  for (std::size_t i = 1; i <= d[0].pgno; ++i) {
    auto pg = d[i].pgno;
    if (std::binary_search(before.begin(), before.end(), pg))
      continue;
    bool older = false;
    for (auto p = parent_of(t); p != nullptr && !older; p = parent_of(p))
      older = listed(dirty_list(p), pg);
    if (!older)
      ++n;
  }
  return n;
}

template <class Write>
int counted(MDB_txn* t, MDB_dbi dbi, const char* op, Write write) {
  auto& s = st();
  if (!s.on)
    return write();
  std::lock_guard<std::mutex> guard{s.mtx};
  auto d = dirty_list(t);
  s.before.clear();
  for (std::size_t i = 1; i <= d[0].pgno; ++i)
    s.before.push_back(d[i].pgno);
  int rc = write();
  auto n = fresh_pages(t, s.before);
  auto name = s.names.find(dbi);
  auto key
      = (name == s.names.end() ? std::to_string(dbi) : name->second) + " " + op;
  auto& c = s.counts[key];
  ++c.calls;
  c.pages += n;
  auto now = std::chrono::steady_clock::now();
  if (now - s.last_dump > std::chrono::seconds(1)) {
    s.last_dump = now;
    s.dump();
  }
  return rc;
}

/// Checks the layout on a scratch environment: 300 keys in order into a
/// new database of a new environment dirty exactly the pages its tree
/// then has, plus the main database's root (which names it).
std::string self_check() {
  char dir[] = "/tmp/lmdb_pages.XXXXXX";
  if (::mkdtemp(dir) == nullptr)
    return "mkdtemp failed";
  std::string why;
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi = 0;
  MDB_stat stat{};
  if (mdb_env_create(&env) != 0)
    return "mdb_env_create failed";
  mdb_env_set_maxdbs(env, 2);
  if (mdb_env_open(env, dir, 0, 0600) != 0
      || mdb_txn_begin(env, nullptr, 0, &txn) != 0
      || __real_mdb_dbi_open(txn, "check", MDB_CREATE, &dbi) != 0) {
    why = "scratch environment failed";
  } else {
    std::string v(200, 'x');
    for (int i = 0; i < 300 && why.empty(); ++i) {
      char k[16];
      std::snprintf(k, sizeof k, "%08d", i);
      MDB_val key{8, k};
      MDB_val val{v.size(), v.data()};
      if (__real_mdb_put(txn, dbi, &key, &val, 0) != 0)
        why = "scratch put failed";
    }
    if (why.empty() && mdb_stat(txn, dbi, &stat) == 0) {
      auto d = dirty_list(txn);
      auto want = stat.ms_branch_pages + stat.ms_leaf_pages + 1;
      if (parent_of(txn) != nullptr || d == nullptr || d[0].pgno != want)
        why = "MDB_txn layout is not LMDB 0.9's";
    }
  }
  if (txn != nullptr)
    mdb_txn_abort(txn);
  if (env != nullptr)
    mdb_env_close(env);
  for (const char* f : {"data.mdb", "lock.mdb"})
    std::remove((std::string{dir} + "/" + f).c_str());
  ::rmdir(dir);
  return why;
}

struct starter {
  starter() {
    auto& s = st();
    s.why = self_check();
    s.on = s.why.empty();
    s.dump();
  }
  ~starter() {
    auto& s = st();
    std::lock_guard<std::mutex> guard{s.mtx};
    s.dump();
  }
} start;

} // namespace

extern "C" {

int __wrap_mdb_put(MDB_txn* t, MDB_dbi d, MDB_val* k, MDB_val* v,
                   unsigned flags) {
  return counted(t, d, "put", [&] {
    return __real_mdb_put(t, d, k, v, flags);
  });
}

int __wrap_mdb_del(MDB_txn* t, MDB_dbi d, MDB_val* k, MDB_val* v) {
  return counted(t, d, "del", [&] {
    return __real_mdb_del(t, d, k, v);
  });
}

int __wrap_mdb_cursor_put(MDB_cursor* c, MDB_val* k, MDB_val* v,
                          unsigned flags) {
  return counted(mdb_cursor_txn(c), mdb_cursor_dbi(c), "cursor_put", [&] {
    return __real_mdb_cursor_put(c, k, v, flags);
  });
}

int __wrap_mdb_cursor_del(MDB_cursor* c, unsigned flags) {
  return counted(mdb_cursor_txn(c), mdb_cursor_dbi(c), "cursor_del", [&] {
    return __real_mdb_cursor_del(c, flags);
  });
}

int __wrap_mdb_dbi_open(MDB_txn* t, const char* name, unsigned flags,
                        MDB_dbi* d) {
  int rc = __real_mdb_dbi_open(t, name, flags, d);
  if (rc == 0) {
    auto& s = st();
    std::lock_guard<std::mutex> guard{s.mtx};
    s.names[*d] = name != nullptr ? name : "main";
  }
  return rc;
}
}
