"""The independent forward: onnxruntime on an ONNX file, for any tensor of the graph; and the random
images the forward and gradient tests feed it."""
import numpy as np
import onnx


def ort_outputs(path, x, names):
    """Run onnxruntime on the ONNX file at `path` for input x (N, C, H, W) and return {name: array}
    for each tensor name in `names` (graph outputs or intermediate tensors). Batch and spatial
    dims are freed so any N, H, W runs; only the nodes the names need are executed."""
    import onnxruntime as ort
    m = onnx.load(path)
    for i, d in enumerate(m.graph.input[0].type.tensor_type.shape.dim):
        if i != 1:
            d.ClearField("dim_value")
            d.dim_param = f"d{i}"
    del m.graph.output[:]
    keep, need = [], set(names)
    for node in reversed(list(m.graph.node)):  # ORT runs dead nodes too: prune to what names need
        if need & set(node.output):
            keep.append(node)
            need |= set(node.input)
    del m.graph.node[:]
    m.graph.node.extend(reversed(keep))
    for name in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return dict(zip(names, sess.run(names, {m.graph.input[0].name: x})))


def random_image(rng, n, size, dtype=np.float32):
    """Random images in a Caffe-like input range (N, 3, size, size)."""
    return (rng.standard_normal((n, 3, size, size)) * 60).astype(dtype)
