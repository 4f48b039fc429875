"""tvmviz: explain the layout choices of TVM's AutoTVM graph tuner on x86 CPUs.

Every computation lives in this package; it never imports Streamlit.
"""

__version__ = "0.1.0"
