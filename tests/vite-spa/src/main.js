// A history-mode router in a few lines, as any SPA framework's router does it: the
// view follows location.pathname, links push a new entry instead of loading a page.
import "./style.css";
import { routeTitle } from "./routes.js";

function render() {
  document.getElementById("route").textContent = routeTitle(location.pathname);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link) return;
  event.preventDefault();
  history.pushState(null, "", link.getAttribute("href"));
  render();
});
window.addEventListener("popstate", render);
render();

// Same origin as the gateway: no CORS, no token in the browser.
fetch("/api/config")
  .then((response) => response.json())
  .then((config) => {
    document.getElementById("version").textContent = `gateway ${config.version}`;
  });
