"""Pretrained features of an image data set as an .npz for run.py's fixed-feature mode (--select-on input).

    python scripts/embed.py --data CIFAR10 --path data --model resnet18 --weights resnet18.pth --out cifar10_r18.npz
    python run.py --data cifar10_r18.npz --alg typiclust --select-on input --nStart 0 --nQuery 100 --nEnd 1000

--data is MNIST, FashionMNIST or CIFAR10 (in any case; read from --path as run.py reads them), or an image folder:
FOLDER/<class>/*.png|jpg, or FOLDER/train/<class>/... and FOLDER/test/<class>/... for its own test set (split names in
any case; without test/, one val/, valid/ or validation/ is the test set; any other subfolder beside them, val/ beside
test/ included, is left out, and said so; a train/ without a test split, a test split without train/, or two
validation folders without test/ are refused). --model is any torchvision image classification model with a linear
last layer (torchvision.models.list_models(module=torchvision.models) or of torchvision.models.quantization,
squeezenet excepted; detection, segmentation, video and optical-flow models are refused), built without weights, then
loaded with the state dict in --weights (a file the user has, e.g. torchvision's resnet18-f37072fd.pth or a
self-supervised checkpoint of the same architecture, with or without its last linear layer; embed.py downloads no
weights, and a torchvision weights name such as DEFAULT is refused with its file's URL); its last linear layer is
dropped, so each image's feature vector is the input of that layer. Images are scaled to [0, 1], grey ones repeated to
3 channels, resized to --size × --size (bilinear) and normalised with ImageNet's channel means and standard
deviations, as torchvision's pretrained weights expect. googlenet and inception_v3 (and their quantized_ versions)
are built as torchvision builds them for its pretrained weights, so that those give torchvision's features: with
transform_input=True (the model turns that input into the [-1, 1] range those weights, ported from the original
papers, expect; a checkpoint trained on ImageNet-normalised input is fed the wrong range) and without auxiliary heads
(aux_logits=False: unused for features, their weights are ignored when the file has them). An existing --out
file is refused, never overwritten. --limit N keeps N images of each split spread evenly over it (positions ⌊i·n/N⌋
of its n, in order: an image folder's classes, then files, sorted), not its first N, which in a folder would be one
or two classes.

The .npz holds X_train, y_train, X_test, y_test (float32 features, labels; run.py then tests on the given test
set), or X, y for a folder without train/ and test/ (run.py then splits it at random). For an image folder it also
holds paths_train, paths_test (or paths): each row's image file, relative to the folder; queries.csv's `row` is a
pick's row of X_train (or X), so paths_train[row] (or paths[row]) is its file."""
import os
import signal
import stat
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from errors import (HelpFormatter, Parser, UserError, counted, exit_with, first_paragraph,  # noqa: E402
                    interrupted_line, quiet_start)

if __name__ == "__main__":
    quiet_start("embed.py")

import numpy as np  # noqa: E402

from catalog import canonical_name  # noqa: E402

TORCHVISION_DATA = ("MNIST", "FashionMNIST", "CIFAR10")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# The models whose torchvision pretrained weights run with transform_input=True, and their auxiliary heads' modules.
AUX_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}
TENSOR_BYTES = 2**63 - 1  # the most bytes a tensor can hold: torch counts sizes in 64-bit signed integers


def parse_args(argv):
    """The flags of argv; a bad flag exits 2 with one line (errors.Parser); --help shows the defaults."""
    p = Parser(prog="embed.py", description=first_paragraph(__doc__), formatter_class=HelpFormatter,
               allow_abbrev=False)
    p.add_argument("--data", required=True, type=canonical_name,
                   help="MNIST, FashionMNIST, CIFAR10 (any case, as run.py's) or an image folder: <class>/<image> "
                        "files, or train/ and test/ (or val/) subfolders of them; the .npz then also holds each "
                        "row's file (paths, or paths_train and paths_test)")
    p.add_argument("--path", default="data", help="the folder holding MNIST, FashionMNIST or CIFAR10 (as run.py's)")
    p.add_argument("--model", required=True,
                   help="a torchvision image classification model with a linear last layer, e.g. resnet18, vit_b_16 "
                        "(list: torchvision.models.list_models(module=torchvision.models)); googlenet and "
                        "inception_v3 run as with torchvision's weights: transform_input=True, no auxiliary heads")
    p.add_argument("--weights", required=True, help="the model's state dict (torch.save(model.state_dict(), f))")
    p.add_argument("--out", required=True, help="the .npz file to write: a new file, in an existing folder")
    p.add_argument("--size", type=int, default=224, help="images are resized to size × size")
    p.add_argument("--batch", type=int, default=128, help="images embedded together")
    p.add_argument("--limit", type=int, default=0,
                   help="embed only N images of each split, spread evenly over it: those at positions ⌊i·n/N⌋, "
                        "i = 0..N−1, of its n (0 = all)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA when available")
    return p.parse_args(argv)


def torchvision_splits(name, path):
    """{"train": (uint8 images (n, c, h, w), int64 labels), "test": ...} of MNIST, FashionMNIST or CIFAR10 under
    `path`, found and checked as run.py finds and checks them (dataset.image_root, load_error, check_counts; never
    downloaded)."""
    import dataset

    root, download = dataset.image_root(name, Path(path))
    if download:
        raise UserError(not_under(name, Path(path)))
    try:
        splits = {split: dataset.torchvision_arrays(name, root, train=split == "train", download=False)
                  for split in ("train", "test")}
    except Exception as e:  # torchvision raises RuntimeError, OSError, EOFError, ValueError ... on bad files
        raise dataset.load_error(name, Path(path), root, False, e)
    for split, (images, labels) in splits.items():
        dataset.check_counts(name, root, images, labels, "training" if split == "train" else split)
    return splits


def not_under(name, path):
    """The error line for data set `name` not found under `path`: run.py's (dataset.own_folder_error) when `path` is
    the set's own folder, to give the folder that holds it as --path; else what to put there."""
    from dataset import WHERE_TO_PUT, own_folder_error

    return own_folder_error(name, path) or (f"{name} is not under {path}; put {WHERE_TO_PUT[name]} there (see "
                                            f"README, 'Data sets')")


TEST_SPLIT, VAL_SPLITS = "test", ("val", "valid", "validation")
SPLIT_NAMES = ("train", TEST_SPLIT, *VAL_SPLITS)  # subfolder names, in any case, that make a folder a split one


def folder_splits(folder, size, limit):
    """({split: (uint8 images (n, 3, size, size), class names, paths relative to `folder`)}, notes) of an image
    folder: "train" and "test" from the subfolders split_folders finds, else the folder itself as "all", and its
    notes; `limit` > 0 keeps only the images at positions spread(n, limit) of each split."""
    splits, notes = split_folders(folder)
    return {split: folder_images(sub, size, limit, folder) for split, sub in splits.items()}, notes


def split_folders(folder):
    """({"all": folder}, []) when no subfolder of `folder` is named like a split (SPLIT_NAMES, any case), else
    ({"train": its train/, "test": its test/, or when it has none its one val/, valid/ or validation/}, lines that
    name a validation folder taken as the test set and the subfolders left out); UserError when the split-named
    subfolders are not such a pair."""
    from dataset import first_line

    try:
        subs = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError as e:
        raise UserError(f"--data {folder} cannot be read ({first_line(e)}); give a folder you may read")
    named = {}
    for sub in subs:
        if sub.name.lower() in SPLIT_NAMES:
            named.setdefault(sub.name.lower(), []).append(sub)
    if not named:
        return {"all": folder}, []
    listed = ", ".join(f"{p.name}/" for group in named.values() for p in group)
    if twice := next((group for group in named.values() if len(group) > 1), None):
        raise UserError(f"{folder} has {' and '.join(f'{p.name}/' for p in twice)}, one split in two spellings; "
                        f"merge them into one subfolder")
    tests = named.get(TEST_SPLIT) or [named[v][0] for v in VAL_SPLITS if v in named]
    if "train" not in named:
        raise UserError(f"{folder} has {listed} but no train/ beside it; put the training images in "
                        f"{folder / 'train'}/<class>/, or give --data {next(iter(named.values()))[0]} to have run.py "
                        f"split that one at random")
    train = named["train"][0]
    if not tests:
        raise UserError(f"{folder} has {train.name}/ but no test/ (or val/) beside it; add {folder / 'test'}/<class>/ "
                        f"for its own test set, or give --data {train} to have run.py split it at random")
    if len(tests) > 1:
        raise UserError(f"{folder} has {listed} and no test/, so which is the test set is unclear; rename the one "
                        f"that is the test set to test/")
    splits = {"train": train, "test": tests[0]}
    notes = [f"{tests[0]} is the test set ({folder} has no test/)"] if tests[0].name.lower() != TEST_SPLIT else []
    if left := [p for p in subs if p not in splits.values()]:
        notes.append(f"left out {', '.join(str(p) for p in left)} (only the train and test splits are embedded)")
    return splits, notes


def spread(n, limit):
    """The positions ⌊i·n/limit⌋, i = 0..limit−1, of `limit` items spread evenly over n in order (all n when
    `limit` is 0 or at least n)."""
    return np.arange(n) if not 0 < limit < n else np.arange(limit) * n // limit


def folder_images(folder, size, limit, root):
    """(uint8 images (n, 3, size, size), class name of each, path of each relative to `root`) of the FOLDER/<class>/
    <image> files at positions spread(n, limit) of torchvision's ImageFolder order (classes, then files, sorted),
    resized bilinearly; check_fits' MemoryError, before any is read, when one image at `size` is too large."""
    import torch
    import torchvision.transforms.functional as TF
    from torchvision.datasets import ImageFolder

    check_fits(1, size)
    try:
        images = ImageFolder(str(folder))
    except (FileNotFoundError, OSError) as e:
        raise UserError(f"{folder} is not an image folder of <class>/<image> files ({e})")
    samples = [images.samples[i] for i in spread(len(images.samples), limit)]
    pictures = [TF.resize(TF.pil_to_tensor(picture(images.loader, p)), [size, size], antialias=True)
                for p, _ in samples]
    return (torch.stack(pictures), np.array([images.classes[c] for _, c in samples]),
            np.array([Path(p).relative_to(root).as_posix() for p, _ in samples]))


def picture(loader, path):
    """The RGB PIL image of the file `path` read with `loader`; a file PIL cannot decode is a UserError naming it."""
    from dataset import first_line

    try:
        return loader(path).convert("RGB")
    except (OSError, ValueError) as e:  # PIL: UnidentifiedImageError (an OSError), truncated files, bad headers
        raise UserError(f"{path} is not a readable image ({first_line(e)}); remove or replace it")


def feature_extractor(name, weights, device):
    """torchvision model `name` (built with build_options) with the state dict in the file `weights`, its last
    linear layer replaced by the identity: its output is the input of that layer. The file need not hold that layer's
    weights (a self-supervised backbone's has no classifier), nor those of googlenet's and inception_v3's auxiliary
    heads; every other weight of the model must be in it."""
    import torch
    import torchvision.models as tvm

    check_model_name(name)
    net = tvm.get_model(name, weights=None, **build_options(name))
    linear = [n for n, m in net.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linear:
        raise UserError(f"--model {name} ends in no linear layer, so there is no layer before it to take features "
                        f"from; use another model (e.g. resnet18)")
    parent, _, child = linear[-1].rpartition(".")
    setattr(net.get_submodule(parent), child, torch.nn.Identity())
    load_without(net, weights, name, (linear[-1], *aux_heads(name)))
    return net.eval().to(device)


def aux_heads(name):
    """The auxiliary heads' module names of model `name` (googlenet's, inception_v3's, their quantized_ versions'),
    () for the other models."""
    return AUX_HEADS.get(name.removeprefix("quantized_"), ())


def build_options(name):
    """The keyword arguments model `name` is built with: for the models with auxiliary heads, those torchvision's
    pretrained weights run with (transform_input=True, aux_logits=False), and init_weights=False, which skips an
    initialisation the loaded weights replace and its FutureWarning; none for the other models."""
    return {"transform_input": True, "aux_logits": False, "init_weights": False} if aux_heads(name) else {}


def load_without(net, weights, name, dropped):
    """net.load_state_dict (strict) of the state dict in the file `weights` (or its "state_dict" entry) less the
    weights of the modules `dropped`, which net does not have, with the modules' versions it records (_metadata,
    which mnasnet's loading needs); UserError, with what does not fit (misfit), when it does not fit model `name`."""
    from collections import OrderedDict

    from dataset import first_line

    state = load_weights(weights, name)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise UserError(f"--weights {weights} does not hold a state dict of {name} but a {type(state).__name__}; "
                        f"give the model's weights saved with torch.save(model.state_dict(), f)")
    prefixes = tuple(f"{m}." for m in dropped)
    kept = OrderedDict((k, v) for k, v in state.items() if not str(k).startswith(prefixes))
    kept._metadata = getattr(state, "_metadata", None)
    try:
        net.load_state_dict(kept)
    except (RuntimeError, TypeError, ValueError) as e:  # strict loading's RuntimeError; a module's own (mnasnet's)
        raise UserError(f"--weights {weights} does not hold a state dict of {name} "
                        f"({misfit(net, kept) or first_line(e)[:200]}); give {name}'s weights, or the --model they "
                        f"are of")


def misfit(net, state):
    """Why the state dict `state` does not load strictly into `net`: how many of net's keys it lacks, how many it
    has that net lacks, how many of its values are not tensors of the shape net has, each with the first in net's
    order (the file's for the unexpected ones); "" when it fits."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in own if k in state and getattr(state[k], "shape", None) != own[k].shape]
    shape = lambda v: list(v.shape) if hasattr(v, "shape") else type(v).__name__  # noqa: E731
    parts = [f"{counted(len(missing), 'missing key')}, first {missing[0]}" if missing else "",
             f"{counted(len(unexpected), 'unexpected key')}, first {unexpected[0]}" if unexpected else "",
             f"{counted(len(reshaped), 'tensor')} of another shape, first {reshaped[0]}: "
             f"{shape(state[reshaped[0]])} in the file, {shape(own[reshaped[0]])} in the model" if reshaped else ""]
    return "; ".join(p for p in parts if p)


def check_model_name(name):
    """UserError unless `name` is one of torchvision's image classification models (those of torchvision.models
    and torchvision.models.quantization): its detection, segmentation, video and optical-flow models take other
    inputs or give no feature vector per image."""
    import torchvision.models as tvm

    if name in tvm.list_models(module=tvm) or name in tvm.list_models(module=tvm.quantization):
        return
    kind = next((k for k in ("detection", "segmentation", "video", "optical_flow")
                 if name in tvm.list_models(module=getattr(tvm, k))), None)
    what = f"a torchvision {kind.replace('_', '-')} model" if kind else "not a torchvision model"
    raise UserError(f"--model {name} is {what}; give an image classification model, one of "
                    f"torchvision.models.list_models(module=torchvision.models), e.g. resnet18")


def load_weights(weights, name):
    """What torch.load (weights_only) reads from the file `weights`; a missing file or one torch cannot read as
    tensors is a UserError (where `weights` names torchvision's weights of model `name`, such as DEFAULT, it says
    where to fetch their file)."""
    import pickle

    import torch

    from dataset import first_line

    try:
        found = Path(weights).is_file()
    except OSError as e:  # a name too long
        raise UserError(f"--weights {weights[:80]}… cannot be read ({first_line(e)}); give a shorter path")
    if not found:
        what = "is not a file" if Path(weights).exists() else "no such file"
        raise UserError(f"--weights {weights}: {what}; give the model's state dict (torch.save(model.state_dict(), f))"
                        f"{torchvision_weights_hint(weights, name)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on the file's pickle protocol
            return torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises UnpicklingError, EOFError, RuntimeError, OSError ... on other files
        unpickling = isinstance(e, pickle.UnpicklingError)  # its message is a long note on weights_only
        why = type(e).__name__ if unpickling else first_line(e)
        raise UserError(f"--weights {weights} could not be read as a state dict ({why}); give the model's weights "
                        f"saved with torch.save(model.state_dict(), f)")


def torchvision_weights_hint(weights, name):
    """", embed.py downloads none: ..." with the URL of torchvision's weights file when `weights` names torchvision's
    weights of model `name` (DEFAULT, IMAGENET1K_V1, ResNet18_Weights.DEFAULT), else ""."""
    import torchvision.models as tvm

    try:
        found = tvm.get_model_weights(name)[weights.rpartition(".")[2]]
    except (KeyError, ValueError):
        return ""
    return f"; embed.py downloads none: fetch {found.url} on a machine with network and give its path"


def features(net, images, size, batch, device):
    """float32 (n, d): net(normalised images), `batch` images at a time: x/255, grey repeated to 3 channels,
    resized to size × size, then (x − ImageNet mean) / ImageNet std per channel; check_fits' MemoryError when a
    batch at that size is too large for a tensor."""
    import torch
    import torch.nn.functional as F

    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    from tqdm import tqdm

    out = []
    starts = range(0, len(images), batch)
    with torch.no_grad(), tqdm(starts, desc="features", unit="batch", file=sys.stderr, delay=2) as bar:
        for a in bar:  # an error or Ctrl-C closes the bar first: its message starts a line of its own
            check_fits(len(images[a:a + batch]), size)
            x = images[a:a + batch].to(device).float().div_(255)
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            if x.shape[-2:] != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            out.append(forward(net, (x - mean) / std, size).flatten(1).float().cpu())
    return torch.cat(out).numpy()


def check_fits(count, size):
    """MemoryError when `count` float32 images of 3 × size × size take more than TENSOR_BYTES, a size torch refuses
    with an overflow error (a TypeError or a RuntimeError), not as a failed allocation."""
    if count * 3 * size * size * 4 > TENSOR_BYTES:
        raise MemoryError(f"{count} × 3 × size × size float32 values need more than the 2^63 bytes a tensor "
                          f"can hold")


def device_failure(e):
    """Whether exception `e` is CUDA's own (its text starts `CUDA error`, `cuDNN error` or `CUBLAS_STATUS`)."""
    return str(e).lstrip().startswith(("CUDA error", "cuDNN error", "CUBLAS_STATUS"))


def forward(net, x, size):
    """net(x); UserError when the model cannot take size × size images (a ViT's fixed input size, too few pixels
    for its convolutions and pooling), other than for running out of memory (left to embed to report) and CUDA's
    own failures (CUDA, cuDNN and cuBLAS errors, which no --size would mend)."""
    import torch

    from dataset import first_line

    try:
        return net(x)
    except (AssertionError, RuntimeError, ValueError) as e:  # ViT asserts its size; convolutions raise RuntimeError
        if isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in str(e) or device_failure(e):
            raise
        raise UserError(f"the model cannot take {size}×{size} images ({first_line(e)[:200]}); give --size the "
                        f"input size it was trained at (224 for torchvision's ImageNet weights)") from None


def embed(args):
    """(the arrays of the .npz (module docstring), notes on the folders read) for the parsed flags; UserError when
    the images at --size, or a --batch of them, do not fit in memory."""
    import torch

    from dataset import first_line
    from run import pick_device

    device = pick_device(args.device)
    if args.data not in TORCHVISION_DATA and not (args.data and Path(args.data).is_dir()):
        raise UserError(f"--data {args.data!r} is neither {', '.join(TORCHVISION_DATA)} nor an image folder")
    net = feature_extractor(args.model, args.weights, device)
    try:
        return embedded_splits(net, args, device)
    except (MemoryError, RuntimeError) as e:  # check_fits'; CUDA's OutOfMemoryError; the CPU allocator's RuntimeError
        if not isinstance(e, (MemoryError, torch.OutOfMemoryError)) and "can't allocate memory" not in str(e):
            raise
        raise UserError(f"--size {args.size} with --batch {args.batch} does not fit in memory ({first_line(e)}); "
                        f"lower --size or --batch") from None


def embedded_splits(net, args, device):
    """({X, y} or {X_train, y_train, X_test, y_test}: the features and labels of --data's images (with --limit N,
    those at positions spread(n, N) of each split), and for an image folder paths or paths_train and paths_test:
    each row's image file, relative to the folder; notes on the folders read)."""
    splits, notes = {}, []
    if args.data in TORCHVISION_DATA:
        for split, (images, labels) in torchvision_splits(args.data, args.path).items():
            keep = spread(len(labels), args.limit)
            splits[split] = images[keep], labels[keep], None
    else:
        splits, notes = folder_splits(Path(args.data), args.size, args.limit)
    arrays = {}
    for split, (images, labels, paths) in splits.items():
        suffix = "" if split == "all" else f"_{split}"
        arrays[f"X{suffix}"] = features(net, images, args.size, args.batch, device)
        arrays[f"y{suffix}"] = np.asarray(labels)
        if paths is not None:
            arrays[f"paths{suffix}"] = paths
    return arrays, notes


def out_file(text):
    """--out as a Path: a file name ending in .npz, not an existing folder or file (never overwritten), in a folder
    that exists and takes a new file (a nameless temporary one is made there and dropped)."""
    from dataset import first_line

    out = Path(text)
    try:
        mode, parent_mode = file_mode(out), file_mode(out.parent)
    except OSError as e:  # a name too long
        raise UserError(f"--out {text[:80]}… cannot be written ({first_line(e)}); give a shorter path")
    if text and mode is not None and stat.S_ISDIR(mode):
        raise UserError(f"--out {text} is a folder; give a file name ending in .npz (e.g. {out / 'features.npz'})")
    if out.suffix != ".npz":
        raise UserError(f"--out {text or repr(text)}: give a file name ending in .npz")
    if mode is not None or out.is_symlink():
        raise UserError(f"--out {text} exists; remove it or choose another --out")
    if parent_mode is None or not stat.S_ISDIR(parent_mode):
        what = "does not exist; create it" if parent_mode is None else "is not a folder; write elsewhere"
        raise UserError(f"--out {text}: {out.parent} {what}")
    try:
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as e:
        raise UserError(f"--out {text}: {out.parent} takes no new file ({first_line(e)}); write elsewhere")
    return out


def file_mode(path):
    """os.stat(path).st_mode, or None where nothing is there (a missing name, or a file taken for a folder)."""
    try:
        return path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_npz(out, arrays):
    """np.savez of `arrays` to the file `out`, written beside it under a temporary name and then renamed, so no
    half-written file is ever left under the name `out`."""
    from dataset import first_line

    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with open(part, "wb") as f:
            np.savez(f, **arrays)
        os.replace(part, out)
    except OSError as e:
        raise UserError(f"--out {out} could not be written ({first_line(e)})")
    finally:
        part.unlink(missing_ok=True)


def main(argv=None):
    """Write the .npz; exit code 0, 2 after one error line, or 130 after Ctrl-C (one line, nothing written)."""
    args = None
    try:
        args = parse_args(argv)
        return write_features(args)
    except KeyboardInterrupt:
        print(interrupted_line("embed.py") + ("" if args is None else f" to --out {args.out}"), file=sys.stderr)
        return 130


def write_features(args):
    """The .npz of the parsed flags, written to --out, its arrays' shapes and embedded_splits' notes on stderr; exit
    code 0, or 2 after one error line."""
    try:
        if args.size <= 0 or args.batch <= 0 or args.limit < 0:
            raise UserError("--size and --batch must be positive, --limit at least 0")
        out = out_file(args.out)
        arrays, notes = embed(args)
        write_npz(out, arrays)
    except UserError as e:
        print(f"embed.py: error: {e}", file=sys.stderr)
        return 2
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"embed.py: {args.out}: {shapes}", file=sys.stderr)
    for note in notes:
        print(f"embed.py: {note}", file=sys.stderr)
    return 0


def cli():
    """`python scripts/embed.py`: Ctrl-C (SIGINT) stops it even when a non-interactive shell started it with SIGINT
    ignored; main's exit code."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    exit_with(main)


if __name__ == "__main__":
    cli()
