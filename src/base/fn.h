// Fn<R(A...)>: a copyable callable, like std::function for the uses the library has (build
// once at registration, call often, copy now and then), at a fraction of the code: per target
// type one allocation, one call thunk and one deleter; copies share the target (reference
// counted, so it is called as const and never cloned), and no type information is kept
// (target<D>() compares call thunks). The
// operator registry holds hundreds of lambdas; std::function would give each a manager and a
// typeinfo name.
#pragma once

#include <atomic>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace brass {

template <class Sig>
class Fn;

template <class R, class... A>
class Fn<R(A...)> {
 public:
  Fn() = default;
  Fn(std::nullptr_t) {}
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Fn> && std::is_invocable_r_v<R, const D&, A...>>>
  Fn(F&& f) {
    using Given = std::remove_reference_t<F>;  // a function itself is never null
    if constexpr (std::is_pointer_v<Given> || std::is_member_pointer_v<Given>) {
      if (!f) return;
    }
    b_ = new Held<D>(std::forward<F>(f));
  }
  Fn(const Fn& o) : b_(o.b_) {
    if (b_) b_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Fn(Fn&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
  Fn& operator=(Fn o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~Fn() {
    if (b_ && b_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) b_->destroy(b_);
  }

  explicit operator bool() const { return b_ != nullptr; }
  // The target when it is a D (told by its call thunk, which is D's own), else null.
  template <class D>
  const D* target() const {
    return b_ && b_->call == &Held<D>::invoke ? &static_cast<const Held<D>*>(b_)->f : nullptr;
  }
  // Calling an empty Fn is a bug in the caller (std::function would throw bad_function_call).
  R operator()(A... a) const { return b_->call(b_, std::forward<A>(a)...); }

 private:
  struct Block {
    std::atomic<int> refs{1};
    R (*call)(const Block*, A&&...);
    void (*destroy)(Block*);
  };
  template <class D>
  struct Held : Block {
    D f;
    template <class F>
    explicit Held(F&& g) : f(std::forward<F>(g)) {
      this->call = &Held::invoke;
      this->destroy = &Held::drop;
    }
    static R invoke(const Block* b, A&&... a) {
      return static_cast<R>(static_cast<const Held*>(b)->f(std::forward<A>(a)...));
    }
    static void drop(Block* b) { delete static_cast<Held*>(b); }
  };
  Block* b_ = nullptr;
};

template <class R, class... A>
bool operator==(const Fn<R(A...)>& f, std::nullptr_t) { return !f; }
template <class R, class... A>
bool operator!=(const Fn<R(A...)>& f, std::nullptr_t) { return bool(f); }

}  // namespace brass
