// Phased LSTM recurrence on the CPU (Neil, Pfeiffer & Liu 2016): the time loop of
// rnnbench.models.plstm.PhasedLSTMRecurrence, with each step one matrix product plus one fused pass over
// the batch's units, instead of ~10 tensor ops. Same equations, same backward (see plstm.py):
//
//   forward, per step:  a = u_t + h_{t-1} Uᵀ                                 (at::addmm_out, batch-major)
//     i = σ(a_i + p_i c_{t-1}),  f = σ(a_f + p_f c_{t-1}),  g = tanh(a_g),  c̃ = f c_{t-1} + i g
//     o = σ(a_o + p_o c̃),  h̃ = o tanh(c̃),  (h_t, c_t) = (h_{t-1}, c_{t-1}) + k (h̃ − h_{t-1}, c̃ − c_{t-1})
//   backward, per step, δh_t (∂L/∂h_t added in the pass) and δc_t:
//     δc̃ = k (δc_t + δh_t (o tanh′(c̃) + p_o tanh(c̃) σ′_o)),  δa_o = k δh_t tanh(c̃) σ′_o,
//     δa_i = δc̃ g σ′_i,  δa_f = δc̃ c_{t-1} σ′_f,  δa_g = δc̃ i tanh′_g,
//     δc_{t-1} = (1 − k) δc_t + δc̃ f + p_i δa_i + p_f δa_f,  δh_{t-1} = (1 − k) δh_t + δa U   (at::addmm_)
//     δk = δc_t (c̃ − c_{t-1}) + δh_t (h̃ − h_{t-1});  δp and δU are summed over steps (δU per 16 steps).
//   δa is clipped to [−clip, clip] where it leaves through U, h_{t-1} and the input projection
//   (the authors' Lasagne grad_clipping on the gate pre-activations W x + U h + b); the peephole terms use the
//   unclipped δa, since the peepholes are added after the clipped node in their graph.
//
// Layout: time-major, batch-major: projected, acts [T, B, 4H] (gate order i, f, g, o); states [T + 1, B, H];
// gates [T, B or 1, H] (1: shared by the batch). Built with -ffast-math (compile only, not linked: the
// process's floating-point mode is untouched) so the unit loops vectorise, exp and tanh included.
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace {

using torch::Tensor;

constexpr int64_t kWeightChunk = 16;  // steps per δU update in the backward

// -ffast-math assumes finite values: the vectorised exp of an argument past its overflow bound gave NaN, not inf,
// so a saturated gate (a peephole on a cell state that grew over 1000 steps: |x| > 88 in float32) turned the
// whole state NaN. The argument is clamped at the bound; the results change only where σ < 2^-126 (float32).
template <typename T>
constexpr T kExpMax = sizeof(T) == 4 ? T(88) : T(708);

template <typename T>
inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(std::min(-x, kExpMax<T>))); }

template <typename T>
void forward_units(int64_t batch, int64_t H, T* act, const T* h, const T* c, const T* k, int64_t k_row,
                   const T* peep, T* h_next, T* c_next) {
  const T *p_i = peep, *p_f = peep + H, *p_o = peep + 2 * H;
  for (int64_t b = 0; b < batch; ++b) {
    T *a_i = act + b * 4 * H, *a_f = a_i + H, *a_g = a_f + H, *a_o = a_g + H;
    const T *hp = h + b * H, *cp = c + b * H, *kb = k + b * k_row;
    T *hn = h_next + b * H, *cn = c_next + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(a_i[j] + p_i[j] * cp[j]);
      const T f = sigmoid(a_f[j] + p_f[j] * cp[j]);
      const T g = std::tanh(a_g[j]);
      const T cell = f * cp[j] + i * g;
      const T o = sigmoid(a_o[j] + p_o[j] * cell);
      const T hidden = o * std::tanh(cell);
      a_i[j] = i; a_f[j] = f; a_g[j] = g; a_o[j] = o;
      hn[j] = hp[j] + kb[j] * (hidden - hp[j]);
      cn[j] = cp[j] + kb[j] * (cell - cp[j]);
    }
  }
}

template <typename T>
void backward_units(int64_t batch, int64_t H, const T* act, const T* h, const T* c, const T* k, int64_t k_row,
                    const T* peep,
                    const T* grad_out, int64_t grad_row, T* d_h, T* d_c, T* d_h_prev, T* d_act, T* d_k,
                    T* d_peep, T clip) {
  const T *p_i = peep, *p_f = peep + H, *p_o = peep + 2 * H;
  T *dp_i = d_peep, *dp_f = d_peep + H, *dp_o = d_peep + 2 * H;
  for (int64_t b = 0; b < batch; ++b) {
    const T *i = act + b * 4 * H, *f = i + H, *g = f + H, *o = g + H;
    const T *hp = h + b * H, *cp = c + b * H;
    const T *kb = k + b * k_row, *go = grad_out ? grad_out + b * grad_row : nullptr;
    T *dh = d_h + b * H, *dc = d_c + b * H, *dhp = d_h_prev + b * H, *dk = d_k + b * k_row;
    T *da_i = d_act + b * 4 * H, *da_f = da_i + H, *da_g = da_f + H, *da_o = da_g + H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T delta_h = go ? dh[j] + go[j] : dh[j];
      const T delta_c = dc[j];
      const T cc = f[j] * cp[j] + i[j] * g[j];                  // c̃, tanh(c̃), h̃ recomputed: less memory than
      const T tc = std::tanh(cc), hc = o[j] * tc;               // storing them (the backward is memory-bound)
      const T sig_o = o[j] * (T(1) - o[j]);
      const T d_cell = kb[j] * (delta_c + delta_h * (o[j] * (T(1) - tc * tc) + p_o[j] * tc * sig_o));
      const T d_o = kb[j] * delta_h * tc * sig_o;
      const T d_i = d_cell * g[j] * i[j] * (T(1) - i[j]);
      const T d_f = d_cell * cp[j] * f[j] * (T(1) - f[j]);
      const T d_g = d_cell * i[j] * (T(1) - g[j] * g[j]);
      da_i[j] = std::clamp(d_i, -clip, clip); da_f[j] = std::clamp(d_f, -clip, clip);
      da_g[j] = std::clamp(d_g, -clip, clip); da_o[j] = std::clamp(d_o, -clip, clip);
      dk[j] += delta_c * (cc - cp[j]) + delta_h * (hc - hp[j]);
      dp_i[j] += d_i * cp[j]; dp_f[j] += d_f * cp[j]; dp_o[j] += d_o * cc;
      dc[j] = (T(1) - kb[j]) * delta_c + d_cell * f[j] + p_i[j] * d_i + p_f[j] * d_f;
      dhp[j] = (T(1) - kb[j]) * delta_h;
    }
  }
}

void check(const Tensor& x, const char* name) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous(), "phased_lstm: ", name, " must be a contiguous CPU tensor");
}

// projected [T, B, 4H], gates [T, B or 1, H], h0, c0 [B, H], weight [4H, H], peepholes [3, H] (zeros for none)
// → {h [T + 1, B, H], c [T + 1, B, H], acts [T, B, 4H]}  (c̃, tanh(c̃), h̃ are recomputed in the backward)
std::vector<Tensor> forward(const Tensor& projected, const Tensor& gates, const Tensor& h0, const Tensor& c0,
                            const Tensor& weight, const Tensor& peepholes) {
  for (auto [x, name] : {std::pair{projected, "projected"}, {gates, "gates"}, {peepholes, "peepholes"}}) check(x, name);
  const int64_t steps = projected.size(0), batch = h0.size(0), H = h0.size(1), k_row = gates.size(1) == 1 ? 0 : H;
  auto h = projected.new_empty({steps + 1, batch, H}), c = projected.new_empty({steps + 1, batch, H});
  auto acts = projected.new_empty({steps, batch, 4 * H});
  h[0].copy_(h0);
  c[0].copy_(c0);
  const auto weight_t = weight.t().contiguous();                // h Uᵀ as a plain (non-transposed) product
  AT_DISPATCH_FLOATING_TYPES(projected.scalar_type(), "phased_lstm_forward", [&] {
    const int64_t state = batch * H;
    for (int64_t t = 0; t < steps; ++t) {
      auto act = acts[t];
      at::addmm_out(act, projected[t], h[t], weight_t);
      forward_units<scalar_t>(batch, H, act.data_ptr<scalar_t>(), h.data_ptr<scalar_t>() + t * state,
                              c.data_ptr<scalar_t>() + t * state, gates[t].data_ptr<scalar_t>(), k_row,
                              peepholes.data_ptr<scalar_t>(), h.data_ptr<scalar_t>() + (t + 1) * state, c.data_ptr<scalar_t>() + (t + 1) * state);
    }
  });
  return {h, c, acts};
}

// grad_outputs [T, B, H] (any strides) or None, grad_h, grad_c [B, H] or None, and
// the forward's tensors, clip (≤ 0: none) → {δprojected [T, B, 4H], δgates (gates' shape), δh0, δc0, δweight, δpeepholes}
std::vector<Tensor> backward(std::optional<Tensor> grad_outputs, const std::optional<Tensor>& grad_h,
                             const std::optional<Tensor>& grad_c, const Tensor& gates, const Tensor& weight,
                             const Tensor& peepholes, const Tensor& h, const Tensor& c, const Tensor& acts,
                             double clip) {
  const int64_t steps = acts.size(0), batch = acts.size(1), H = h.size(2), k_row = gates.size(1) == 1 ? 0 : H;
  if (grad_outputs && grad_outputs->stride(2) != 1) grad_outputs = grad_outputs->contiguous();
  auto d_h = grad_h ? grad_h->contiguous().clone() : h.new_zeros({batch, H});
  auto d_c = grad_c ? grad_c->contiguous().clone() : h.new_zeros({batch, H});
  auto d_h_prev = h.new_empty({batch, H});
  auto d_acts = acts.new_empty({steps, batch, 4 * H});
  auto d_gates = gates.new_zeros(gates.sizes());
  auto d_peep = peepholes.new_zeros({3, H});
  auto d_weight = weight.new_zeros(weight.sizes());
  int64_t chunk_end = steps;
  AT_DISPATCH_FLOATING_TYPES(acts.scalar_type(), "phased_lstm_backward", [&] {
    const int64_t state = batch * H;
    const scalar_t* grad_base = grad_outputs ? grad_outputs->data_ptr<scalar_t>() : nullptr;
    for (int64_t t = steps - 1; t >= 0; --t) {
      backward_units<scalar_t>(
          batch, H, acts[t].data_ptr<scalar_t>(), h.data_ptr<scalar_t>() + t * state,
          c.data_ptr<scalar_t>() + t * state, gates[t].data_ptr<scalar_t>(), k_row, peepholes.data_ptr<scalar_t>(),
          grad_base ? grad_base + t * grad_outputs->stride(0) : nullptr, grad_outputs ? grad_outputs->stride(1) : 0,
          d_h.data_ptr<scalar_t>(), d_c.data_ptr<scalar_t>(), d_h_prev.data_ptr<scalar_t>(),
          d_acts[t].data_ptr<scalar_t>(), d_gates[t].data_ptr<scalar_t>(), d_peep.data_ptr<scalar_t>(),
          clip > 0 ? static_cast<scalar_t>(std::min(clip, double(std::numeric_limits<scalar_t>::max())))
                   : std::numeric_limits<scalar_t>::max());
      d_h_prev.addmm_(d_acts[t], weight);                    // δh_{t-1} = (1 − k) δh_t + δa U
      std::swap(d_h, d_h_prev);
      if (t % kWeightChunk == 0) {                            // δU += Σ δa_tᵀ h_{t-1} over the chunk just done,
        const int64_t length = chunk_end - t;                 // while it is still in cache
        d_weight.addmm_(d_acts.narrow(0, t, length).view({length * batch, 4 * H}).t(),
                        h.narrow(0, t, length).view({length * batch, H}));
        chunk_end = t;
      }
    }
  });
  return {d_acts, d_gates, d_h, d_c, d_weight, d_peep};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "Phased LSTM recurrence, forward");
  m.def("backward", &backward, "Phased LSTM recurrence, backward through time");
}
