"""Loading: heads found by depth whatever their names, roles, Softmax resolution, folding
(BatchNormalization into Conv, torchvision's prologue into one Affine), plans that run only what
a head needs, buffers reused across steps."""
import numpy as np
import onnx

import classviz
from classviz.weights import read


def test_heads_are_ordered_by_depth_not_by_name_or_output_order(model_path):
    net = classviz.load(model_path("bvlc_aux"), backend="cpu")
    # the file lists loss1, loss3, loss2: depth decides
    assert net.heads == ("loss3/classifier", "loss2/classifier", "loss1/classifier")
    assert net.roles == {"main": "loss3/classifier", "aux2": "loss2/classifier", "aux1": "loss1/classifier"}
    assert net.head_name("aux1") == "loss1/classifier"


def test_renamed_heads_are_still_found(model_path, tmp_path):
    m = onnx.load(model_path("bvlc_aux", 8))
    renames = {"loss3/classifier": "z_first", "loss2/classifier": "/classifier/Gemm_output_0",
               "loss1/classifier": "zz"}
    for node in m.graph.node:
        node.output[:] = [renames.get(o, o) for o in node.output]
    for o in m.graph.output:
        o.name = renames.get(o.name, o.name)
    path = str(tmp_path / "renamed.onnx")
    onnx.save(m, path)
    net = classviz.load(path, backend="cpu")
    assert net.heads == ("z_first", "/classifier/Gemm_output_0", "zz")


def test_softmax_output_resolves_to_its_input(model_path):
    net = classviz.load(model_path("zoo", 8), backend="cpu")
    assert net.heads == ("loss3/classifier",)
    assert net.head_name("prob_1") == "loss3/classifier"
    assert net.head_name("pool5/drop_7x7_s1") == "pool5/7x7_s1"


def test_batchnorm_and_prologue_are_folded(model_path):
    model = read(model_path("torchvision", 8))
    ops = [n.op for n in model.nodes]
    assert ops.count("Affine") == 1 and ops[0] == "Affine"  # the prologue, nothing else
    assert "BatchNormalization" not in ops
    scale = model.nodes[0].params["scale"].reshape(-1)
    np.testing.assert_allclose(scale, np.array([0.229, 0.224, 0.225]) / 0.5, rtol=1e-6)


def test_plan_runs_only_what_the_head_needs(model_path):
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    aux1 = {s.op.node.name for s in net.plan("aux1", (1, 3, 224, 224)).steps}
    main = {s.op.node.name for s in net.plan("main", (1, 3, 224, 224)).steps}
    assert not any(n.startswith(("inception_4b", "inception_5", "loss2", "loss3")) for n in aux1)
    assert not any(n.startswith(("loss1", "loss2")) for n in main)
    assert "inception_4a/output" in aux1


def test_buffers_are_reused_and_results_returned_fresh(model_path):
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32) * 50
    plan = net.plan(None, x.shape)
    buffers = {k: id(v) for k, v in plan.grads.items()}
    obj1, g1 = net.gradient(x, 1)
    obj2, g2 = net.gradient(x * 0.5, 1)
    assert {k: id(v) for k, v in plan.grads.items()} == buffers
    assert net.plan(None, x.shape) is plan
    assert not np.shares_memory(g1, g2) and not np.array_equal(g1, g2)
    out = np.empty_like(x)
    _, g3 = net.gradient(x, 1, out=out)
    assert g3 is out and np.array_equal(out, g1)


def test_concat_inputs_are_placed_as_views(model_path):
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    plan = net.plan(None, (2, 3, 224, 224))
    out = plan.values["inception_4c/output"]
    branch = plan.values["inception_4c/3x3_relu"]
    assert np.shares_memory(out, branch)


def test_sibling_pointwise_convs_merge_into_one(model_path):
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    plan = net.plan(None, (2, 3, 224, 224))
    convs = [s.op.node for s in plan.steps if s.op.node.op == "Conv" and s.op.node.inputs == ["inception_4b/output"]]
    width = {n.name: n.params["W"].shape[0] for n in net.model.nodes if n.op == "Conv"}
    assert len(convs) == 1 and convs[0].params["W"].shape[0] == sum(
        width["inception_4c/" + b] for b in ("1x1", "3x3_reduce", "5x5_reduce"))
    v = plan.values
    one, three, five = (v[f"inception_4c/{b}_relu"] for b in ("1x1", "3x3_reduce", "5x5_reduce"))
    assert one.base is not None and one.base is three.base is five.base  # slices of one buffer
    g = plan.grads
    assert g["inception_4c/1x1_relu"].base is g["inception_4c/5x5_reduce_relu"].base is not None
    # a sibling that is the head keeps its own convolution
    feat = net.plan("inception_4c/3x3_reduce_relu", (1, 3, 224, 224))
    assert "inception_4c/3x3_reduce" in [s.op.node.name for s in feat.steps]


def test_infer_shapes_needs_no_backend_and_matches_a_plan(model_path):
    from classviz.graph import Network
    network = Network(read(model_path("bvlc_aux", 8)))
    shapes = network.infer_shapes("aux2", (2, 3, 224, 224))
    assert shapes["loss2/classifier"] == (2, 1000) and "loss3/classifier" not in shapes
    plan = classviz.load(model_path("bvlc_aux", 8), backend="cpu").plan("aux2", (2, 3, 224, 224))
    assert all(plan.shapes[t] == s for t, s in shapes.items() if t in plan.shapes)


def test_every_plan_shares_each_layers_prepared_weights(model_path):
    """Weights are prepared once per network (as Caffe's LayerSetUp), not once per plan: the aux
    heads' trunk and a second batch size reuse the main plan's prepared convolutions."""
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    convs = lambda plan: {s.op.node.outputs[0]: s.op.cw for s in plan.steps if hasattr(s.op, "cw")}  # noqa: E731
    main, aux1, batch2 = (convs(net.plan(h, (n, 3, 224, 224))) for h, n in (("main", 1), ("aux1", 1), ("main", 2)))
    shared = set(main) & set(aux1)
    assert shared and all(main[t] is aux1[t] for t in shared)
    assert main.keys() == batch2.keys() and all(main[t] is batch2[t] for t in main)
    x = np.random.default_rng(0).normal(0, 50, (2, 3, 224, 224)).astype(np.float32)
    fresh = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    assert np.array_equal(net.forward(x, "aux1"), fresh.forward(x, "aux1"))


def test_receptive_fields_compose_through_convolutions_and_pools(model_path):
    """conv1 7x7/2 pad 3, pool1 3x3/2, conv2 1x1 then 3x3 pad 1: the fields by hand; a concat
    covers its branches; the classifier sees the whole image. And a field is where a gradient can
    be: d(one conv1 output element)/d(input) is zero outside its 7x7 field."""
    from classviz.graph import Network
    network = Network(read(model_path("bvlc_aux", 8)))
    f = network.receptive_fields("main")
    assert f["conv1/7x7_s2_relu"] == ((7, 2, -3), (7, 2, -3))
    assert f["pool1/3x3_s2"] == ((11, 4, -3), (11, 4, -3))
    assert f["conv2/3x3_reduce_relu"] == f["pool1/norm1"] == f["pool1/3x3_s2"]
    assert f["conv2/3x3_relu"] == ((19, 4, -7), (19, 4, -7))
    branches = [f[t] for t in network.producer["inception_3a/output"].inputs]
    size, jump, start = f["inception_3a/output"][0]
    assert start == min(b[0][2] for b in branches) and start + size == max(b[0][2] + b[0][0] for b in branches)
    assert f[network.roles["main"]] is None
    net = classviz.load(model_path("bvlc_aux", 8), backend="cpu")
    x = np.random.default_rng(1).normal(0, 50, (1, 3, 224, 224))
    _, g = net.gradient(x, [0], head="conv1/7x7_s2_relu")  # mean of channel 0: every element's field
    rows = np.flatnonzero(np.abs(g[0]).sum(axis=(0, 2)))
    (size, jump, start), _ = f["conv1/7x7_s2_relu"]
    assert rows.min() >= max(0, start) and rows.max() <= start + jump * 111 + size - 1


def _conv_graph(path, nodes, weights, image, shape, seed):
    """Write an ONNX model of `nodes` (onnx NodeProtos) whose 3x3 convolutions read the seeded
    3->3-channel weights named in `weights`, from the input tensor `image` of `shape`, to the
    output 'head'; returns path."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 3, 3, 3)).astype(np.float32), w) for w in weights]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(image, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("head", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _conv(x, w, y):
    from onnx import helper
    return helper.make_node("Conv", [x, w], [y], kernel_shape=[3, 3], pads=[1, 1, 1, 1])


def _assert_gradient_matches_finite_differences(net, x, classes, seeds):
    # the objective: each image's channel classes[n] of the head, averaged; central differences
    # along a random direction per seed, in float64
    obj, grad = net.gradient(x, classes, head="head")
    f = lambda z: net.forward(z, head="head")[np.arange(len(classes)), classes].mean(axis=(1, 2)).sum()  # noqa: E731
    for seed in seeds:
        d = np.random.default_rng(seed).standard_normal(x.shape)
        fd = (f(x + 1e-6 * d) - f(x - 1e-6 * d)) / 2e-6
        assert abs(fd - np.vdot(grad, d)) <= 1e-7 * abs(fd), (fd, np.vdot(grad, d))


def test_an_adds_inputs_share_its_gradient_buffer_only_where_nothing_reads_out_of_turn(tmp_path):
    # x -> b = conv(x), a = conv(x), c = conv(b); head = relu(a + b) + c. The backward: the last
    # Add writes s's and c's gradients, the first Add a's and b's, then conv_c adds to b's gradient
    # before conv_a reads a's: a and b cannot share s's buffer (a may alone)
    from onnx import helper
    nodes = [_conv("x", "wb", "b"), _conv("x", "wa", "a"), _conv("b", "wc", "c"),
             helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Relu", ["sum"], ["s"]),
             helper.make_node("Add", ["s", "c"], ["head"])]
    path = _conv_graph(str(tmp_path / "residual.onnx"), nodes, ["wb", "wa", "wc"], "x", [1, 3, 11, 13], 0)
    net = classviz.load(path, backend="cpu")
    x = np.random.default_rng(1).standard_normal((2, 3, 11, 13))
    g = net.plan("head", x.shape, np.float64).grads
    assert g["a"] is g["s"] and g["b"] is not g["s"]  # b's other reader adds to it before a is read
    assert g["s"] is not g["head"]  # the head's buffer is the caller's seed: never shared
    _assert_gradient_matches_finite_differences(net, x, [1, 2], range(3))


def test_every_residual_add_of_resnet_and_mobilenet_shares_its_gradient_buffer(tmp_path):
    # ResNet's identity block: the shortcut's other reader (the block's first convolution) adds to
    # the buffer only after the last convolution has read it, so both inputs share
    from classviz.testing import write_architecture
    for name in ("resnet18", "mobilenet_v2"):
        net = classviz.load(write_architecture(str(tmp_path / f"{name}.onnx"), name, "dynamo", 0.0625), backend="cpu")
        plan = net.plan(None, (1, 3, 224, 224))
        adds = [s for s in plan.steps if s.op.node.op == "Add"]
        assert adds and all(plan.grads[t] is plan.grads[s.out] for s in adds for t in s.ins), name


def test_an_add_never_adds_into_the_buffer_it_reads(tmp_path):
    # y = conv(x + (x + x)): the outer Add may share x and the inner sum with its output's buffer,
    # but then the inner x + x would add its gradient onto the very buffer it reads (x's gradient
    # becoming 4 g instead of 3 g): only x shares
    from onnx import helper
    nodes = [_conv("input", "wa", "x"), helper.make_node("Add", ["x", "x"], ["inner"]),
             helper.make_node("Add", ["x", "inner"], ["outer"]), _conv("outer", "wb", "head")]
    path = _conv_graph(str(tmp_path / "thrice.onnx"), nodes, ["wa", "wb"], "input", [1, 3, 9, 7], 2)
    net = classviz.load(path, backend="cpu")
    x = np.random.default_rng(3).standard_normal((1, 3, 9, 7))
    g = net.plan("head", x.shape, np.float64).grads
    assert g["x"] is g["outer"] and g["inner"] is not g["outer"]
    _assert_gradient_matches_finite_differences(net, x, [1], [4])


def test_an_add_folds_into_the_convolution_of_its_later_summand_only(tmp_path):
    # a = conv(x) then b = conv(x): Add(b, a) folds into b's convolution (a is ready when it runs),
    # listed first or not; c = relu(conv(x)) has an activation of its own and d = conv(x) a second
    # reader, so neither folds. The gradient by finite differences in float64 (the fold's pass)
    from onnx import helper
    nodes = [_conv("x", "wa", "a"), _conv("x", "wb", "b"), helper.make_node("Add", ["b", "a"], ["s"]),
             helper.make_node("Relu", ["s"], ["r"]), _conv("x", "wc", "c0"), helper.make_node("Relu", ["c0"], ["c"]),
             helper.make_node("Add", ["r", "c"], ["t"]), _conv("x", "wd", "d"), helper.make_node("Add", ["t", "d"], ["u"]),
             helper.make_node("Add", ["u", "d"], ["v"]), _conv("v", "we", "head")]
    path = _conv_graph(str(tmp_path / "fold.onnx"), nodes, ["wa", "wb", "wc", "wd", "we"], "x", [1, 3, 9, 10], 5)
    net = classviz.load(path, backend="cpu")
    x = np.random.default_rng(6).standard_normal((2, 3, 9, 10))
    plan = net.plan("head", x.shape, np.float64)
    assert plan.folded == {"b": "r"}
    assert plan.values["b"] is plan.values["r"]
    _assert_gradient_matches_finite_differences(net, x, [0, 2], range(2))


def _inception_graph(path, seed):
    # x (4 channels) -> merged 1x1 siblings a (3) and b (5), a 3x3 layer c (6) on b, a pool branch
    # d (2): t = Concat(a, c, d); then t's first reader, a 3x3 layer e (3), and a pool on t with a
    # 1x1 layer h after it; head = g(e) + h. Every convolution but g and h has a ReLU
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    shapes = {"wa": (3, 4, 1, 1), "wb": (5, 4, 1, 1), "wc": (6, 5, 3, 3), "wd": (2, 4, 1, 1), "we": (3, 11, 3, 3),
              "wg": (3, 3, 1, 1), "wh": (3, 11, 1, 1)}
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), w) for w, s in shapes.items()]

    def conv(x, w, y, relu=True):
        k = shapes[w][2]
        out = [helper.make_node("Conv", [x, w], [y + "0" if relu else y], kernel_shape=[k, k],
                                pads=[k // 2] * 4)]
        return out + [helper.make_node("Relu", [y + "0"], [y])] if relu else out

    def pool(x, y):
        return helper.make_node("MaxPool", [x], [y], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = (conv("x", "wa", "a") + conv("x", "wb", "b") + conv("b", "wc", "c") + [pool("x", "p")]
             + conv("p", "wd", "d") + [helper.make_node("Concat", ["a", "c", "d"], ["t"], axis=1)]
             + conv("t", "we", "e") + [pool("t", "tp")] + conv("tp", "wh", "h", False) + conv("e", "wg", "g", False)
             + [helper.make_node("Add", ["g", "h"], ["head"])])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 14, 14])],
                              [helper.make_tensor_value_info("head", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_the_masks_of_a_concats_inputs_go_to_its_gradients_last_writer(tmp_path, monkeypatch):
    """An inception module's branches (merged 1x1 siblings, a 3x3 layer on one of them, a pool
    branch) feed a Concat whose first reader, a Winograd layer, writes the Concat's gradient last
    and masks it as it writes: every branch, the merged siblings too, takes its gradient as it
    comes (no mask pass of its own). The gradient by finite differences in float64; in float32
    the bits of the plan that hands no mask on. (With the Concat's or the siblings' hand-off
    planted where its writer does not mask, the differences fail.)"""
    from classviz.graph import plan as plan_module
    path = _inception_graph(str(tmp_path / "inception.onnx"), 4)
    net = classviz.load(path, backend="cpu")
    x = np.random.default_rng(8).standard_normal((2, 4, 14, 14))
    plan = net.plan("head", x.shape, np.float64)
    by_out = {s.out: s for s in plan.steps}
    merged = [s for s in plan.steps if s.op.node.op == "Conv" and "+" in s.out]
    assert len(merged) == 1 and by_out["e"].op.cw.u is not None
    assert by_out["e"].op.in_relu is True and by_out["c"].op.cw.u is not None
    assert all(s.op.out_masked for s in (merged[0], by_out["c"], by_out["d"])), "a branch still masks itself"
    _assert_gradient_matches_finite_differences(net, x, [0, 2], range(3))
    x32 = x.astype(np.float32)
    got = net.gradient(x32, [1, 0], head="head")
    with monkeypatch.context() as m:
        m.setattr(plan_module.Plan, "_hand_masks_on", lambda self, consumers: None)
        want = classviz.load(path, backend="cpu").gradient(x32, [1, 0], head="head")
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])


def test_folded_adds_and_handed_on_masks_change_no_bit(tmp_path, monkeypatch, model_path):
    """ResNet-50 and MobileNetV2 in float32: every Add folds into the convolution before it, and
    ResNet's block outputs' masks (Add + ReLU) go to the next block's first layer, a pointwise
    packed GEMM that adds its part last, its first layers' to the Winograd layers after them, the
    stem's to the max-pool (MobileNet's expansion masks go to the depthwise layers, and the
    depthwise ones to the projections; GoogLeNet's conv1 mask to pool1, its conv2/3x3_reduce's to
    conv2/3x3); forward and gradient are the bits of the plan without either (each Add a pass of
    its own, each mask too)."""
    from classviz.graph import plan as plan_module
    from classviz.kernels.cpu import packed
    from classviz.testing import write_architecture
    x = np.random.default_rng(7).normal(0, 50, (1, 3, 224, 224)).astype(np.float32)
    for name in ("resnet50", "mobilenet_v2", "googlenet"):
        path = model_path("bvlc_aux", 8) if name == "googlenet" else \
            write_architecture(str(tmp_path / f"{name}.onnx"), name, "dynamo", 0.125, seed=3)
        net = classviz.load(path, backend="cpu")
        plan = net.plan(None, x.shape)
        adds = [s for s in plan.steps if s.op.node.op == "Add"]
        assert len(plan.folded) == len(adds) and (adds or name == "googlenet"), name
        if name == "googlenet":
            assert [s.op.in_relu for s in plan.steps if s.op.node.op == "MaxPool"][0] is True
            assert plan.steps[[s.out for s in plan.steps].index("conv2/3x3_relu")].op.in_relu is True
            # the inception modules' branches, merged siblings too, hand their masks to the writer
            # of their Concat's gradient (3a's: 3b's merged pointwise layer)
            masked = {s.out for s in plan.steps if s.op.node.op == "Conv" and s.op.out_masked}
            assert {"inception_3a/3x3_relu", "inception_3a/5x5_relu", "inception_3a/pool_proj_relu"} <= masked
            assert any(t.startswith("inception_3a/1x1+") for t in masked) or not packed.PAYS
        if name == "resnet50" and packed.PAYS:
            assert sum(s.op.out_masked for s in adds) == len(adds) - 1  # the last one's reader is the pool
            assert any(s.acc[0] and s.op.in_relu for s in plan.steps if s.op.node.op == "Conv")
            assert any(s.op.in_relu and s.op.cw.u is not None for s in plan.steps if s.op.node.op == "Conv")
            assert [s.op.in_relu for s in plan.steps if s.op.node.op == "MaxPool"] == [True]
        got = net.forward(x), net.gradient(x, [5])
        with monkeypatch.context() as m:
            m.setattr(plan_module.Plan, "_fold_adds", lambda self, consumers: {})
            m.setattr(plan_module.Plan, "_hand_masks_on", lambda self, consumers: None)
            apart = classviz.load(path, backend="cpu")
            want = apart.forward(x), apart.gradient(x, [5])
            assert not apart.plan(None, x.shape).folded
        assert np.array_equal(got[0], want[0]), name
        assert np.array_equal(got[1][1], want[1][1]) and got[1][0] == want[1][0], name
