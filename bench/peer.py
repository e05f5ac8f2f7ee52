#!/usr/bin/env python3
"""retort next to PyTorch on whole models: inference at batch 1 and 32, a
training step, and (PyTorch side for now) a distillation step.

    bench/peer.sh [--threads N] [--rounds R] [--quick] [--only NAME,...] [--build DIR]

(bench/peer.sh runs this file with Debian's /usr/bin/python3 after setting
the environment; see there.) Needs build/bench/peer_step (make bench).

Each case starts two servers that stay up for the whole case: retort's
build/bench/peer_step and this file in --serve mode (PyTorch twin of the
same JSON config from tests/fixtures/ref/<arch>.py). Both set up the same
step, warm up twice and then run steps on request. The driver alternates
them: R rounds, each round N steps of one side then N of the other (who
goes first alternates), N chosen so a round takes about --round-s seconds
for the slower side. Reported: the median step time of each side over all
its steps, samples/s, the ratio PyTorch time / retort time (above 1: retort
is faster), and the spread of the per-round medians (max/min) as the noise
seen on each side.

Steps (the same on both sides):
  infer    forward, eval mode, no autograd
  train    forward in training mode, MSE against a random target
           (regression) or cross entropy against fixed labels
           (classification), zero grad, backward, one AdamW step (lr 1e-5)
  distill  ViT-B teacher (eval, no grad) -> MobileViT student (training):
           0.3 response (MSE of the outputs, a regression task) + 0.4 feature
           (MSE of student blocks.7 output through a learned 384->768
           projection vs teacher blocks.11 output) + 0.3 attention (MSE of
           the head-averaged attention maps of student blocks.7 and teacher
           blocks.11), backward, AdamW over student + projection
           (retort: the same terms from src/distill's rt_kd_term_build).

Environment: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed for both
sides (OpenBLAS's own choice of kernels); the PyTorch side runs with
OMP_WAIT_POLICY=PASSIVE (its best setting here: spinning threads of an idle
process steal the cores). retort gets --retort-wait-policy (default PASSIVE
too: on this shared 2-core machine libgomp's default spinning made a
MobileViT batch-1 forward 2x-10x slower whenever other processes ran, while
PASSIVE stayed within 10%; "unset" keeps the caller's environment).
"""
import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

MVIT = "configs/mobilevit-s-emotion.json"
VITB = "configs/vit-base-emotion.json"
FT = "configs/fmnist-teacher.json"
FS = "configs/fmnist-student.json"
# (name, config, step, batch); distill's config is the student's
CASES = [
    ("mobilevit-s infer b1", MVIT, "infer", 1),
    ("mobilevit-s infer b32", MVIT, "infer", 32),
    ("mobilevit-s train b12", MVIT, "train", 12),
    ("vit-base infer b1", VITB, "infer", 1),
    ("vit-base infer b32", VITB, "infer", 32),
    ("vit-base train b12", VITB, "train", 12),
    ("fmnist-teacher infer b1", FT, "infer", 1),
    ("fmnist-teacher infer b32", FT, "infer", 32),
    ("fmnist-teacher train b128", FT, "train", 128),
    ("fmnist-student infer b1", FS, "infer", 1),
    ("fmnist-student infer b32", FS, "infer", 32),
    ("fmnist-student train b128", FS, "train", 128),
    ("distill vit-b -> mobilevit-s b12", MVIT, "distill", 12),
]
QUICK_SKIP = {"vit-base train b12", "vit-base infer b32"}


# ---------------------------------------------------------------- PyTorch side

def torch_model(cfg):
    sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
    return importlib.import_module("ref." + cfg["arch"]).build(cfg)


def attn_with_map(attn):
    """Make a ref Attention module keep its head-averaged probabilities in .map."""
    import torch

    def forward(x):
        B, T, C = x.shape
        qkv = attn.qkv(x).reshape(B, T, 3, attn.heads, C // attn.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        p = ((q @ k.transpose(-2, -1)) * (C // attn.heads) ** -0.5).softmax(dim=-1)
        attn.map = p.mean(dim=1)
        return attn.proj((p @ v).transpose(1, 2).reshape(B, T, C))

    attn.forward = forward
    return torch


def make_torch_step(config, step, batch):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(1)
    cfg = json.load(open(os.path.join(ROOT, config)))
    m = torch_model(cfg)
    x = torch.randn(batch, *cfg["input"])
    if step == "infer":
        m.eval()

        def run():
            with torch.no_grad():
                m(x)
        return run
    if step == "train":
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-5)
        if cfg["task"] == "classification":
            y = torch.tensor([(i * 7 + 3) % cfg["num_outputs"] for i in range(batch)])
            loss_fn = lambda out: F.cross_entropy(out, y)  # noqa: E731
        else:
            y = torch.randn(batch, cfg["num_outputs"])
            loss_fn = lambda out: F.mse_loss(out, y)  # noqa: E731

        def run():
            opt.zero_grad()
            loss_fn(m(x)).backward()
            opt.step()
        return run
    # distill: teacher ViT-B, student = config
    tcfg = json.load(open(os.path.join(ROOT, VITB)))
    t = torch_model(tcfg).eval()
    for p in t.parameters():
        p.requires_grad_(False)
    m.train()
    feats = {}
    s_last, t_last = m.blocks[-1], t.blocks[-1]
    s_last.register_forward_hook(lambda mod, i, o: feats.__setitem__("s", o))
    t_last.register_forward_hook(lambda mod, i, o: feats.__setitem__("t", o))
    attn_with_map(s_last.attn)
    attn_with_map(t_last.attn)
    proj = torch.nn.Linear(cfg["width"], tcfg["width"])
    opt = torch.optim.AdamW(list(m.parameters()) + list(proj.parameters()), lr=1e-5)

    def run():
        with torch.no_grad():
            t_out = t(x)
        s_out = m(x)
        loss = (0.3 * F.mse_loss(s_out, t_out) + 0.4 * F.mse_loss(proj(feats["s"]), feats["t"])
                + 0.3 * F.mse_loss(s_last.attn.map, t_last.attn.map))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return run


def serve(config, step, batch, threads):
    import torch
    torch.set_num_threads(threads)
    run = make_torch_step(config, step, batch)
    run()
    run()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.startswith("q"):
            break
        ts = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            run()
            ts.append((time.perf_counter() - t0) * 1e3)
        print(" ".join(f"{t:.4f}" for t in ts), flush=True)


# ---------------------------------------------------------------- driver

class Server:
    def __init__(self, argv, env):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                  cwd=ROOT)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            self.p.kill()
            raise RuntimeError(f"{argv[0]}: did not start (exit {self.p.wait()})")

    def run(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("server exited")
        return [float(v) for v in line.split()]

    def close(self):
        try:
            self.p.stdin.write("q\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait()


def environments(retort_policy, rt_extra=(), pt_extra=()):
    base = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        base.pop(k, None)
    torch_env = dict(base, OMP_WAIT_POLICY="PASSIVE")
    rt_env = dict(base)
    if retort_policy != "unset":
        rt_env["OMP_WAIT_POLICY"] = retort_policy
    for env, extra in ((rt_env, rt_extra), (torch_env, pt_extra)):
        for kv in extra:  # KEY=VALUE, or KEY= to remove KEY
            k, _, v = kv.partition("=")
            if v:
                env[k] = v
            else:
                env.pop(k, None)
    return rt_env, torch_env


def measure(case, args, envs):
    name, config, step, batch = case
    rt_env, pt_env = envs
    sides = {}
    sides["retort"] = Server([os.path.join(args.build, "bench", "peer_step"), config, step, str(batch),
                              "--threads", str(args.threads)], rt_env)
    sides["pytorch"] = Server([sys.executable, os.path.abspath(__file__), "--serve", config, step, str(batch),
                               "--threads", str(args.threads)], pt_env)
    try:
        probe = max(statistics.median(s.run(1)) for s in sides.values())
        n = max(1, min(50, int(args.round_s * 1e3 / max(probe, 1e-3))))
        times = {k: [] for k in sides}
        round_meds = {k: [] for k in sides}
        order = list(sides)
        for r in range(args.rounds):
            for k in (order if r % 2 == 0 else order[::-1]):
                ts = sides[k].run(n)
                times[k] += ts
                round_meds[k].append(statistics.median(ts))
    finally:
        for s in sides.values():
            s.close()
    out = {"case": name, "config": config, "step": step, "batch": batch, "steps_per_round": n}
    for k in sides:
        med = statistics.median(times[k])
        out[k] = {"median_ms": med, "samples_per_s": batch * 1e3 / med,
                  "round_spread": max(round_meds[k]) / min(round_meds[k]), "steps": len(times[k])}
    out["ratio"] = out["pytorch"]["median_ms"] / out["retort"]["median_ms"]
    return out


def fmt_row(r):
    pt, rt = r["pytorch"], r["retort"]
    return (f"{r['case']:<34} {rt['median_ms']:>10.2f} {pt['median_ms']:>10.2f} {rt['samples_per_s']:>9.1f} "
            f"{pt['samples_per_s']:>9.1f} {r['ratio']:>7.2f}x {rt['round_spread']:>6.2f} "
            f"{pt['round_spread']:>6.2f} {pt['steps']:>5}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serve", nargs=3, metavar=("CONFIG", "STEP", "BATCH"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--round-s", type=float, default=1.0, help="target seconds per side per round")
    ap.add_argument("--quick", action="store_true", help="skip ViT-B training and batch-32 inference")
    ap.add_argument("--only", help="comma-separated substrings of case names")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--retort-wait-policy", default="PASSIVE", choices=["PASSIVE", "ACTIVE", "unset"])
    ap.add_argument("--retort-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for retort's side (KEY= removes KEY), e.g. GOMP_SPINCOUNT=100000")
    ap.add_argument("--torch-env", action="append", default=[], metavar="KEY=VALUE",
                    help="the same for PyTorch's side")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]), args.threads)
        return
    if not os.access(os.path.join(args.build, "bench", "peer_step"), os.X_OK):
        sys.exit(f"peer.py: {args.build}/bench/peer_step: not built (make bench)")
    envs = environments(args.retort_wait_policy, args.retort_env, args.torch_env)
    import torch
    print(f"retort vs PyTorch {torch.__version__}: {args.threads} threads, {args.rounds} alternating rounds; "
          f"OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset, PyTorch OMP_WAIT_POLICY=PASSIVE, "
          f"retort OMP_WAIT_POLICY={envs[0].get('OMP_WAIT_POLICY', '(unset)')}"
          + "".join(f"; {side} {kv}" for side, kvs in (("retort", args.retort_env), ("PyTorch", args.torch_env))
                    for kv in kvs))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'case':<34} {'retort ms':>10} {'torch ms':>10} {'rt smp/s':>9} {'pt smp/s':>9} {'pt/rt':>8} "
          f"{'rt spr':>6} {'pt spr':>6} {'steps':>5}", flush=True)
    results = []
    for case in CASES:
        if args.quick and case[0] in QUICK_SKIP:
            continue
        if args.only and not any(s in case[0] for s in args.only.split(",")):
            continue
        r = measure(case, args, envs)
        results.append(r)
        print(fmt_row(r), flush=True)
    print("pt/rt: PyTorch median time / retort median time (above 1: retort faster). spr: max/min of the "
          "per-round medians (noise).")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
