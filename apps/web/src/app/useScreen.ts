import { useEffect, type RefObject } from "react";

/**
 * A new screen: set the document title, and if focus was lost with the old screen (the clicked
 * element is gone), put it on the new screen's heading so keyboard and screen-reader users
 * continue from there.
 */
export function useScreen(title: string, heading?: RefObject<HTMLElement | null>): void {
  useEffect(() => {
    document.title = title ? `${title} · AnonChat` : "AnonChat";
  }, [title]);
  useEffect(() => {
    const active = document.activeElement;
    if (!active || active === document.body) heading?.current?.focus({ preventScroll: true });
  }, [heading]);
}
