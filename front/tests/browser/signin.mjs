// Signs in as developer on front's page in headless Chromium, checks what a
// learner sees, signs out. Usage: node signin.mjs http://127.0.0.1:PORT
import { launch } from './launch.mjs';
import path from 'node:path';

const url = process.argv[2];
const artifacts = process.env.ARTIFACTS || '.';
const browser = await launch();
const fail = async (page, message) => {
  await page.screenshot({ path: path.join(artifacts, 'front-failure.png'), fullPage: true });
  console.error(message);
  await browser.close();
  process.exit(1);
};
try {
  const page = await browser.newPage();
  // The page must work offline: anything not from front itself fails the test.
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreign.push(r.url()); });
  await page.goto(url + '/', { timeout: 20000 });
  await page.click('#signin');
  await page.fill('#username', 'developer');
  await page.click('#signin-submit');
  await page.waitForSelector('#user', { timeout: 20000 });
  const nav = (await page.textContent('.account')).replace(/\s+/g, ' ').trim();
  if (nav !== 'developer (sign out)') await fail(page, `navbar shows "${nav}"`);
  const text = await page.textContent('main');
  for (const expected of ['Otomato Aleph Service', 'Otomato Beth Service', 'version 0.1']) {
    if (!text.includes(expected)) await fail(page, `page lacks "${expected}": ${text}`);
  }
  // Each backend's address and title read as two things, with space between.
  for (const row of await page.$$('.backend')) {
    // The text's own extent (a grid cell's box hides text overflowing it).
    const extent = (selector) => row.$eval(selector, (el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      const box = range.getBoundingClientRect();
      return { x: box.x, width: box.width };
    });
    const address = await extent('.address');
    const title = await extent('.title');
    if (title.x - (address.x + address.width) < 8) {
      await fail(page, `address and title touch: ${JSON.stringify({ address, title })}`);
    }
  }
  const cookies = await page.context().cookies();
  const user = cookies.find((c) => c.name === 'user');
  if (!user || user.value !== 'developer' || !user.httpOnly) await fail(page, `cookie: ${JSON.stringify(cookies)}`);
  await page.screenshot({ path: path.join(artifacts, 'front-signed-in.png'), fullPage: true });
  console.log('signed in as developer');
  await page.click('#signout');
  await page.waitForSelector('#signin', { timeout: 20000 });
  const after = await page.context().cookies();
  if (after.some((c) => c.name === 'user')) await fail(page, 'the user cookie survived sign-out');
  if (foreign.length) await fail(page, `requests outside front: ${foreign.join(', ')}`);
  console.log('signed out');
} finally {
  await browser.close();
}
