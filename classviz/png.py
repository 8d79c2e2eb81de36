"""PNG files with text metadata: written whole or not at all (`classviz.atomic`), and read back."""
from PIL import Image, PngImagePlugin

from .atomic import atomic


def save_png(path, image, text):
    """Write uint8 (H, W, 3) `image` to `path` as PNG with `text` ({key: value}, values as str) as
    tEXt chunks, through a temporary file renamed into place."""
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, str(v))
    with atomic(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", pnginfo=info)


def read_text(path):
    """The tEXt chunks of the PNG at `path` ({key: str}), or None when it is missing or not a
    readable PNG. Reads the chunks only, not the pixels."""
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return None
            return dict(im.text)
    except (OSError, SyntaxError, ValueError):
        return None
