/**
 * The Python peers (numpy, PyTorch) and the BLAS under them, shared by bench/gemm.ts,
 * bench/attention.ts and bench/train.ts so every peer starts from the same environment and says
 * which kernel it ran.
 *
 * The interpreter is Debian's /usr/bin/python3 (python3-numpy, python3-torch, python3-threadpoolctl:
 * see /work/shared/PEERS.md), else `python3`; XFMR_PEER_PYTHON overrides both.
 *
 * Environment: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, when inherited (set on some of these
 * machines for an old numpy), pin OpenBLAS to a kernel and cache size that slow a current
 * OpenBLAS, so a peer starts without them and OpenBLAS picks its kernel from the CPU. An OpenBLAS
 * older than the CPU cannot: Debian 12's 0.3.21 does not know family 6 model 207 and falls back to
 * its generic SSE3 kernel ("Prescott"), 5x slower on GEMM. peerEnv() probes for that and then names
 * the kernel itself (SkylakeX with AVX-512, Haswell with AVX2), and says so: a peer on the wrong
 * kernel would flatter xfmr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export const PEER_PYTHON =
  process.env.XFMR_PEER_PYTHON || (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

/** What a peer process runs on. */
export interface BlasInfo {
  python: string;
  /** The module measured (numpy or torch) and its version. */
  module: string;
  version: string;
  /** BLAS library (openblas, mkl, blis) and version, its kernel (OpenBLAS's core name), threads. */
  blas: string | null;
  blas_version: string | null;
  kernel: string | null;
  blas_threads: number | null;
  /** threadpoolctl, or OpenBLAS's own openblas_get_corename when threadpoolctl is missing or too old. */
  via: string | null;
}

/**
 * Python source defining blas_info(module) -> dict (the fields of BlasInfo). Peer scripts print it,
 * so the kernel reported is the one of the process that was timed.
 */
export const BLAS_INFO_PY = `
import ctypes, sys
def blas_info(module):
    m = __import__(module)
    if module == "torch":
        m.ones(64, 64) @ m.ones(64, 64)  # loads the BLAS
    else:
        import numpy
        numpy.ones((64, 64), numpy.float32) @ numpy.ones((64, 64), numpy.float32)
    info = {"python": sys.executable, "module": module, "version": str(m.__version__), "blas": None,
            "blas_version": None, "kernel": None, "blas_threads": None, "via": None}
    try:
        import threadpoolctl
        for lib in threadpoolctl.threadpool_info():
            if lib.get("user_api") == "blas":
                info.update(blas=lib.get("internal_api"), blas_version=lib.get("version"),
                            kernel=lib.get("architecture"), blas_threads=lib.get("num_threads"),
                            via="threadpoolctl " + threadpoolctl.__version__)
                break
    except ImportError:
        pass
    if info["blas"] is None:
        # threadpoolctl missing, or too old to recognise the library (scipy-openblas): ask OpenBLAS.
        try:
            paths = [l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l.lower() and ".so" in l]
        except OSError:
            paths = []
        for path in dict.fromkeys(paths):
            lib = ctypes.CDLL(path)
            def fn(name, restype):
                for pre in ("", "scipy_"):
                    for suf in ("", "64_"):
                        f = getattr(lib, pre + name + suf, None)
                        if f is not None:
                            f.restype = restype
                            return f
            core, config, nt = fn("openblas_get_corename", ctypes.c_char_p), fn("openblas_get_config", ctypes.c_char_p), fn("openblas_get_num_threads", ctypes.c_int)
            if core is not None:
                cfg = config().decode() if config else ""
                info.update(blas="openblas", blas_version=cfg.split()[1] if cfg.startswith("OpenBLAS ") else None,
                            kernel=core().decode(), blas_threads=nt() if nt else None, via="openblas_get_corename")
                break
    return info
`;

/** OpenBLAS kernels older than AVX2: what an OpenBLAS that does not know the CPU falls back to. */
const GENERIC_KERNELS = new Set(
  [
    'Prescott',
    'Katmai',
    'Coppermine',
    'Northwood',
    'Banias',
    'Core2',
    'Penryn',
    'Dunnington',
    'Nehalem',
    'Atom',
  ].map((k) => k.toLowerCase()),
);

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/** blas_info(module) in a python3 run with `env`; null when the module does not import. */
export function probeBlas(module: 'numpy' | 'torch', env: NodeJS.ProcessEnv): BlasInfo | null {
  const r = spawnSync(
    PEER_PYTHON,
    ['-c', `${BLAS_INFO_PY}\nimport json\nprint(json.dumps(blas_info("${module}")))`],
    { encoding: 'utf8', env },
  );
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? 'null') as BlasInfo;
}

export interface PeerEnv {
  env: NodeJS.ProcessEnv;
  /** The probe's answer under `env` (null: the module is not installed for PEER_PYTHON). */
  blas: BlasInfo | null;
  /** Set when the bench chose the OpenBLAS kernel itself, saying why. */
  note: string | null;
}

/**
 * The environment for a peer process: process.env without the inherited OpenBLAS settings, with
 * `threads` set for OpenBLAS/OpenMP when given, and OPENBLAS_CORETYPE named by the bench only when
 * OpenBLAS would otherwise fall back to a generic kernel on a CPU with AVX2 or AVX-512.
 */
export function peerEnv(module: 'numpy' | 'torch', threads?: number): PeerEnv {
  const key = `${module}:${threads}`;
  const known = envs.get(key);
  if (known) return known;
  const made = makePeerEnv(module, threads);
  envs.set(key, made);
  return made;
}
const envs = new Map<string, PeerEnv>();

function makePeerEnv(module: 'numpy' | 'torch', threads?: number): PeerEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (threads !== undefined)
    for (const v of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS']) env[v] = String(threads);
  const blas = probeBlas(module, env);
  const kernel = blas?.kernel?.toLowerCase();
  if (blas?.blas !== 'openblas' || !kernel || !GENERIC_KERNELS.has(kernel)) return { env, blas, note: null };
  const flags = cpuFlags();
  const coretype =
    flags.has('avx512f') && flags.has('avx512bw') ? 'SkylakeX' : flags.has('avx2') ? 'Haswell' : null;
  if (!coretype) return { env, blas, note: null };
  const fixed = { ...env, OPENBLAS_CORETYPE: coretype };
  const again = probeBlas(module, fixed);
  return {
    env: fixed,
    blas: again,
    note:
      `OpenBLAS ${blas.blas_version ?? ''} chose its generic ${blas.kernel} kernel on this CPU (it predates ` +
      `the CPU model), so the bench set OPENBLAS_CORETYPE=${coretype}`,
  };
}

/**
 * The thread settings a PyTorch peer is run with: torch's own threads x OpenBLAS's pool, each 1 or
 * n. torch.set_num_threads does not size OpenBLAS's pool, and which pairing is fastest depends on
 * the shapes and on what else the machine runs (PEERS.md: torch's threads and OpenBLAS's fight over
 * 2 cores), so the peer's figure is its best over all of them.
 */
export function torchThreadSettings(n: number): { torch: number; blas: number }[] {
  const counts = [...new Set([1, n])];
  return counts.flatMap((torch) => counts.map((blas) => ({ torch, blas })));
}

/** One line naming what a peer ran on. */
export function describeBlas(b: BlasInfo | null, note: string | null = null): string {
  if (!b) return 'not installed';
  const blas = b.blas
    ? `${b.blas} ${b.blas_version ?? '?'}, kernel ${b.kernel ?? '?'}${b.blas_threads ? `, ${b.blas_threads} BLAS threads` : ''} (${b.via})`
    : 'BLAS not identified';
  return `${b.module} ${b.version} (${b.python}) on ${blas}${note ? `; ${note}` : ''}`;
}
