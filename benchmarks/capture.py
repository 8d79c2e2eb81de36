"""Does each kind of octave's step capture into one CUDA graph? (A failed capture falls back to
running the step eagerly, with a Notice: correct, but without the graph's speed.)

    python benchmarks/capture.py [--backend cuda] [--weights FILE] [--json OUT]

For each kind of octave a schedule has (the whole 224 image; crops of an upscaled image; each
auxiliary head), it builds the render's step as `classviz.render` does and asks the backend to
capture it, recording whether a graph came back and any Notice. On the CPU there are no graphs:
every kind reports 'eager'.
"""
import argparse
import json
import os
import warnings

import classviz
from classviz import ascent, preprocess, renderer, schedule
from classviz.errors import Notice
from step import weights_or_synthetic

KINDS = {"whole image, main": schedule.Octave("main", 2, 2.5, 0.78, 11, 11),
         "crops, main": schedule.Octave("main", 2, 0.936, 0.78, 6, 6, 1.2),
         "crops, aux2": schedule.Octave("aux2", 2, 0.936, 0.44, 6, 3, 1.2),
         "crops, aux1": schedule.Octave("aux1", 2, 0.44, 0.304, 3, 3, 1.2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--weights", help="ONNX GoogLeNet (default: a synthetic full-size one)")
    ap.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "capture.json"))
    args = ap.parse_args()
    path = weights_or_synthetic(args.weights)
    net = classviz.load(path, backend=args.backend)
    be = net.backend
    pre, _ = preprocess.for_model(net.model)
    rows = {}
    for kind, octave in KINDS.items():
        octs = [octave]
        heads = ascent.octave_heads(net, octs)
        r = renderer.Renderer(net, [1, 2], octs, heads, pre, 0)
        with warnings.catch_warnings(record=True) as told, be.stream():
            warnings.simplefilter("always")
            if octave.scale:
                r.upscale(schedule.sizes(octs)[0])
            step = r.octave_step(octave, heads[0])
            r.set_step(octave.sigma(0), octave.step_size(0))
            replay = be.capture(step, keep=(r.pixels,))
        notices = [str(w.message) for w in told if issubclass(w.category, Notice)]
        # the CPU's capture wraps the step (its thread count is tuned), a graph it is not
        captured = be.name != "cpu" and replay is not step and not notices
        rows[kind] = {"captured": captured, "notices": notices}
        state = "graph" if captured else "eager" + (f": {notices[0]}" if notices else "")
        print(f"{kind:>18}: {state}", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"backend": be.name, "kinds": rows}, f, indent=1)


if __name__ == "__main__":
    main()
