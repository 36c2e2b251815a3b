"""Small versions of the networks real MXNet models use, written against MXNet's symbol API so
that the same code builds them in Brass (tests) and in MXNet 1.9.1
(tests/fixtures/make_network_fixtures.py): LeNet, an MLP, ResNet-18 v1 (the layer structure of
the model zoo's, narrower) and MobileNetV2 (inverted residual blocks with ReLU6, narrower).
Each builder takes the symbol module (mx.sym) and returns (symbol, data shape)."""


def mlp(S):
    x = S.var("data")
    x = S.Activation(S.FullyConnected(x, num_hidden=16, name="fc1"), act_type="relu", name="relu1")
    x = S.Activation(S.FullyConnected(x, num_hidden=12, name="fc2"), act_type="relu", name="relu2")
    return S.FullyConnected(x, num_hidden=5, name="fc3"), (4, 20)


def lenet(S):
    x = S.var("data")
    x = S.Pooling(S.Activation(S.Convolution(x, kernel=(5, 5), num_filter=4, name="conv1"), act_type="tanh"),
                  kernel=(2, 2), stride=(2, 2), pool_type="max")
    x = S.Pooling(S.Activation(S.Convolution(x, kernel=(3, 3), num_filter=6, name="conv2"), act_type="tanh"),
                  kernel=(2, 2), stride=(2, 2), pool_type="max")
    x = S.Activation(S.FullyConnected(S.Flatten(x), num_hidden=10, name="fc1"), act_type="tanh")
    return S.FullyConnected(x, num_hidden=5, name="fc2"), (3, 1, 14, 14)


def _conv_bn(S, x, name, c, k, s, p, g=1, act="relu"):
    x = S.Convolution(x, kernel=(k, k), stride=(s, s), pad=(p, p), num_filter=c, num_group=g, no_bias=True,
                      name=name + "_conv")
    x = S.BatchNorm(x, fix_gamma=False, eps=1e-5, momentum=0.9, name=name + "_bn")
    if act == "relu":
        return S.Activation(x, act_type="relu")
    if act == "relu6":
        return S.clip(x, a_min=0.0, a_max=6.0)
    return x


def resnet18_v1(S, widths=(4, 6, 8, 8)):
    x = S.var("data")
    x = _conv_bn(S, x, "stem", widths[0], 7, 2, 3)
    x = S.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
    cin = widths[0]
    for stage, c in enumerate(widths):
        for blk in range(2):
            s = 2 if stage > 0 and blk == 0 else 1
            name = "s%db%d" % (stage, blk)
            y = _conv_bn(S, x, name + "a", c, 3, s, 1)
            y = _conv_bn(S, y, name + "b", c, 3, 1, 1, act=None)
            if s != 1 or cin != c:
                x = _conv_bn(S, x, name + "d", c, 1, s, 0, act=None)
            x = S.Activation(x + y, act_type="relu")
            cin = c
    x = S.Flatten(S.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1)))
    return S.FullyConnected(x, num_hidden=5, name="fc"), (4, 3, 48, 48)


def mobilenet_v2(S, blocks=((1, 4, 1, 1), (6, 6, 2, 2), (6, 8, 2, 2)), last=16):
    x = S.var("data")
    x = _conv_bn(S, x, "stem", 4, 3, 2, 1, act="relu6")
    cin = 4
    i = 0
    for t, c, n, s in blocks:
        for j in range(n):
            stride = s if j == 0 else 1
            name = "ir%d" % i
            hid = cin * t
            y = x if t == 1 else _conv_bn(S, x, name + "e", hid, 1, 1, 0, act="relu6")
            y = _conv_bn(S, y, name + "d", hid, 3, stride, 1, g=hid, act="relu6")
            y = _conv_bn(S, y, name + "p", c, 1, 1, 0, act=None)
            x = x + y if stride == 1 and cin == c else y
            cin = c
            i += 1
    x = _conv_bn(S, x, "last", last, 1, 1, 0, act="relu6")
    x = S.Flatten(S.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1)))
    return S.FullyConnected(x, num_hidden=5, name="fc"), (2, 3, 16, 16)


NETS = {"mlp": mlp, "lenet": lenet, "resnet18_v1": resnet18_v1, "mobilenet_v2": mobilenet_v2}
