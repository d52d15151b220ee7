// Starts Swagger UI on /docs. A file, not an inline <script>: the Content-Security-Policy
// of the gateway's HTML answers runs scripts from the gateway's own origin only.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var sameOrigin = function (url) {
    return new URL(url, window.location.href).origin === window.location.origin;
  };
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    // Every tag open with its operations listed (method, path, summary, operationId);
    // one click shows an operation's parameters, responses and error codes.
    docExpansion: "list",
    displayOperationId: true,
    defaultModelsExpandDepth: 1,
    filter: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No badge fetched from an outside validator service.
    validatorUrl: null,
    // "Try it out" from the docs page is a same-origin caller: it sends the header the
    // CSRF check asks of state-changing requests that carry the session cookie.
    requestInterceptor: function (request) {
      if (sameOrigin(request.url)) {
        request.headers["X-Requested-With"] = "XMLHttpRequest";
      }
      return request;
    },
  });
})();
