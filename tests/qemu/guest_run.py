"""Runs .tflite models inside a QEMU guest Python (tests/qemu_user.py).

Usage: guest_run.py JOBS.json

JOBS.json: {"maps": path or null, "jobs": [{"model": path, "form": "sttn" or
"stock", "kernel": str, "threads": int, "inputs": [npy paths], "runs": int,
"output": npy path}]}. Per job: builds the interpreter, sets the inputs,
invokes once, marks a checkpoint for the counting plugin, invokes
``runs - 1`` more times, marks again and saves the first output. So the
instructions between a job's two checkpoints are ``runs - 1`` inferences.
Imports only numpy, ai_edge_litert and our package (no TensorFlow, Keras).
At the end it copies /proc/self/maps (guest addresses) to "maps".
"""

import json
import os
import sys

import numpy as np

MARKER = 0x5354544E434F5354  # tests/qemu/insn_count.c


def mark() -> None:
    try:
        os.lseek(-1, MARKER, 0)
    except OSError:
        pass


def _interpreter(job: dict, content: bytes, inputs: list):
    """(invoke, first output) of one job's interpreter, inputs set."""
    if job["form"] == "sttn":
        from sttn_keras.export import Interpreter

        interp = Interpreter(content, kernel=job["kernel"], num_threads=job["threads"])
        for i, x in enumerate(inputs):
            interp.set_input(x, i)
        return interp.invoke, lambda: interp.get_output(0)
    from ai_edge_litert import interpreter as li

    interp = li.Interpreter(model_content=content, num_threads=job["threads"])
    for d, x in zip(interp.get_input_details(), inputs):
        if tuple(d["shape"]) != x.shape:
            interp.resize_tensor_input(d["index"], list(x.shape), strict=False)
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], x.astype(d["dtype"]))
    index = interp.get_output_details()[0]["index"]
    return interp.invoke, lambda: interp.get_tensor(index)


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    for job in spec["jobs"]:
        with open(job["model"], "rb") as f:
            content = f.read()
        run, output = _interpreter(job, content, [np.load(p) for p in job["inputs"]])
        run()
        mark()
        for _ in range(job["runs"] - 1):
            run()
        mark()
        np.save(job["output"], np.asarray(output()))
        del run, output
    if spec.get("maps"):
        with open("/proc/self/maps") as src, open(spec["maps"], "w") as dst:
            dst.write(src.read())
    print("GUEST_OK", len(spec["jobs"]))


if __name__ == "__main__":
    main()
