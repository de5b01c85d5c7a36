{
  "targets": [
    {
      "target_name": "xfmr",
      "sources": [
        "native/addon.cc",
        "native/threadpool.cc",
        "native/cpu.cc",
        "native/mmap.cc",
        "native/gemm.cc",
        "native/gemm_bf16.cc",
        "native/gemm_amx.cc",
        "native/linear_bf16.cc",
        "native/linear_quant.cc",
        "native/quantize.cc",
        "native/attention.cc",
        "native/norms.cc",
        "native/activations.cc",
        "native/elementwise.cc",
        "native/optim.cc",
        "native/rope_embedding.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-fPIC", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
