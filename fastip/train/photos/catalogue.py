"""Which files of which Debian packages are real photographs, chosen by looking at every image they hold.

Left out, and why:
- plasma-workspace-wallpapers: Altai, Canopee, Cascade, Cluster, Elarun, Flow, Honeywave, IceCold, Kay, Kokkini,
  Opal, PastelHills, Patak, Shell, Volna (vector or rendered art); Autumn, FlyingKonqui, SafeLanding (drawings);
  MilkyWay (rendered bokeh). Each kept wallpaper ships at 12 sizes: only the largest (2560x1600) is taken.
- mate-backgrounds: abstract/* and desktop/* (paintings, renders, gradients, logos).
- opencv-doc: drawings, renders and charts (HappyFish, Blender_Suzanne*, smarties, starry_night, logos, digits,
  chessboard, sudoku, notes, pic*, ellipses, gradient, mask, ml, templ/tmpl, detect_blob, imageText*, cards),
  a disparity map (aloeGT), synthetic blur (text_defocus, text_motion, licenseplate_motion), greyscale frames
  (basketball*, box*, blox, left01-14/right01-14 calibration boards), a lightbox test target (pca_test1), and the
  second frame of every stereo/flow/viewpoint pair or edited copy (aloeR, rubberwhale2, leuvenB, graf3, right,
  ela_modified), which would leak one scene into both splits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhotoPackage:
    """A Debian package and the photographs in it: (short name, path inside the package) pairs."""

    package: str
    short: str  # prefix of the photo names: `{short}-{name}`
    root: str  # folder in the package that holds the photos
    upstream: str  # the same folder in the upstream source, as debian/copyright names its files
    photos: tuple[tuple[str, str], ...]  # (name, path under root)


_PLASMA = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
           "OneStandsOut", "Path", "summer_1am")
_MATE = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
         "TwoWings", "Wood", "YellowFlower")
_OPENCV = ("aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
           "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "left.jpg",
           "leuvenA.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg")

PACKAGES = (
    PhotoPackage("plasma-workspace-wallpapers", "plasma", "usr/share/wallpapers", "",
                 tuple((n, f"{n}/contents/images/2560x1600.jpg") for n in _PLASMA)),
    PhotoPackage("mate-backgrounds", "mate", "usr/share/backgrounds/mate", "",
                 tuple((n, f"nature/{n}.jpg") for n in _MATE)),
    PhotoPackage("opencv-doc", "opencv", "usr/share/doc/opencv-doc/examples/data", "samples/data",
                 tuple((f.rsplit(".", 1)[0], f) for f in _OPENCV)),
)
