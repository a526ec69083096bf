"""What the runner offers — networks, built-in data sets, training defaults — in a module that imports nothing
heavy: run.py builds its parser from it and parses the flags (and prints --help) before torch is imported."""

MODELS = ("mlp", "lin", "resnet", "vgg", "cnn")
CONV_MODELS = ("resnet", "vgg", "cnn")
IMAGE_NAMES = ("MNIST", "FashionMNIST", "SVHN", "CIFAR10")  # the image data sets, each with its own cnn
PATIENCE = 5000  # default of --patience: epochs without a new best epoch accuracy before training stops


def canonical_name(data):
    """`data` spelled as the data set it names, whatever its case ('mnist' -> 'MNIST'); other text (a file, an
    unknown name) unchanged."""
    names = {n.lower(): n for n in ("digits", *IMAGE_NAMES)}
    return names.get(data.lower(), data)


def unknown_data(data):
    """The error line for a --data that names no data set: not digits, an image data set or a .csv/.npz file
    (None when it names one)."""
    if not data or data in ("digits", *IMAGE_NAMES) or data.lower().endswith((".csv", ".npz")):
        return None
    return f"unknown --data {data!r}: use digits, {', '.join(IMAGE_NAMES)}, or a .csv/.npz file"
