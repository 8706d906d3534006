// "Share my location" on a bag's page: the browser's location, sent once with this page's own
// scan (the server rounds it to 0.1 degree, about 10 km, before it keeps it).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("share-place");
  if (!button || !navigator.geolocation) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      var url = new URL(window.location.href);
      url.searchParams.set("geo", pos.coords.latitude.toFixed(1) + "," + pos.coords.longitude.toFixed(1));
      window.location.replace(url.toString());
    }, function () { button.disabled = false; }, { maximumAge: 600000, timeout: 10000 });
  });
});
