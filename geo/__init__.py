"""The plot registry: reading plot files in the contract's CRSs, validity and repair,
geodesic areas, point-in-plot checks. See docs/plots.md.

Only ``geo`` imports the GIS stack (shapely, pyproj, and GDAL through pyogrio, the last only
when a GeoPackage or Shapefile is read), so importing ``traceability`` stays fast.
"""

from geo.measure import geometry_area_m2, point_in_plot
from geo.registry import PlotRead, read_plots

__all__ = ["PlotRead", "geometry_area_m2", "point_in_plot", "read_plots"]
