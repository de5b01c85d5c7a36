{
  "targets": [
    {
      "target_name": "xfmr_bench",
      "sources": ["fma_peak.cc", "../../native/cpu.cc"],
      "include_dirs": ["../../native"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fPIC", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
