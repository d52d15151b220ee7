export function routeTitle(path) {
  const match = path.match(/^\/repos\/(.+)\/tags\/([^/]+)$/);
  return match ? `tag ${match[2]} of ${match[1]}` : `page ${path}`;
}
