"""What lam3 loads through the entry point: names, descriptions and lazy factories, nothing heavy.

The factory is a "module:attribute" string, so `lam3 plugins` and `lam3 --help` never import
the judge module (or whatever heavy library it needs); lam3 imports it when the judge is used.
"""

from lam3_core import hookimpl
from lam3_example_wordlist import __version__

__all__ = ["__version__", "lam3_register_judges"]  # lam3 reports __version__ for in-process plugins


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "wordlist", "lam3_example_wordlist.judge:WordlistJudge",
        "Example plugin: 1.0 when the response contains any listed word (words=a,b,c).",
    )
