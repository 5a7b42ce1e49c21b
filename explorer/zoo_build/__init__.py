"""What only `explorer build-zoo` runs: it regenerates `explorer/zoo_data/` and nothing else imports it.

`zoo_data` writes the files; `sources/` parses the reference pages, Detectron's configs and torchvision's weights
metadata into zoo rows; `counting` counts GFLOPs and parameters of the models we build (on the meta device) and
`complexity` turns those counts into `complexity.csv`. This package sits off the app's import path: the zoo
(explorer.zoo, pandas only) reads the generated files and never imports a parser or a model.
"""
