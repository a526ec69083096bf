"""What the runner offers — networks, built-in data sets, training defaults — in a module that imports nothing
heavy: run.py builds its parser from it and parses the flags (and prints --help) before torch is imported."""
import os

MODELS = ("mlp", "lin", "resnet", "vgg", "cnn")
CONV_MODELS = ("resnet", "vgg", "cnn")
IMAGE_NAMES = ("MNIST", "FashionMNIST", "SVHN", "CIFAR10")  # the image data sets, each with its own cnn
PATIENCE = 5000  # default of --patience: epochs without a new best epoch accuracy before training stops


def canonical_name(data):
    """`data` spelled as the data set it names, whatever its case ('mnist' -> 'MNIST'); other text (a file, an
    unknown name) unchanged."""
    names = {n.lower(): n for n in ("digits", *IMAGE_NAMES)}
    return names.get(data.lower(), data)


# What a folder holds when it is a --path of an image data set: a file or folder in it that names the set.
IMAGE_MARKS = {"MNIST": ("MNIST",), "FashionMNIST": ("FashionMNIST",), "SVHN": ("train_32x32.mat",),
               "CIFAR10": ("cifar-10-batches-py", "cifar-10-python.tar.gz")}


def unknown_data(data):
    """The error line for a --data that names no data set: not digits, an image data set or a .csv/.npz file
    (None when it names one); for an existing folder it adds how to use it: as --path of the image data sets it
    holds, its parent as --path where it is an image data set's own folder (PATH/MNIST), or else, as an image
    folder, through scripts/embed.py."""
    if not data or data in ("digits", *IMAGE_NAMES) or data.lower().endswith((".csv", ".npz")):
        return None
    message = f"unknown --data {data!r}: use digits, {', '.join(IMAGE_NAMES)}, or a .csv/.npz file"
    if not os.path.isdir(data):
        return message
    held = [name for name, marks in IMAGE_MARKS.items() if any(os.path.exists(os.path.join(data, m)) for m in marks)]
    if held:
        return f"{message}; {data} holds {' and '.join(held)}: use --data {held[0]} --path {data}"
    folder, name = os.path.split(os.path.normpath(data))
    if own := [set_name for set_name, marks in IMAGE_MARKS.items() if name in marks]:
        return f"{message}; {data} is the {own[0]} folder of a --path: use --data {own[0]} --path {folder or '.'}"
    return (f"{message}; an image folder is first turned into features: python scripts/embed.py --data {data} "
            f"--model resnet18 --weights resnet18.pth --out features.npz, then --data features.npz")
