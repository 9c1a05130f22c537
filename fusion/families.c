/* families.c - the hub model families the runtime knows (fusion/family.h),
 * tried in order by nvlm_load when config.json is not nvlm's own layout. */
#include "fusion/family.h"

#include <string.h>

extern const nv_family nv_family_mllama;
extern const nv_family nv_family_text;
extern const nv_family nv_family_llava;
extern const nv_family nv_family_idefics3;

const nv_family *const nv_families[] = {
    &nv_family_mllama,
    &nv_family_text,
    &nv_family_llava,
    &nv_family_idefics3,
    NULL,
};

void nv_family_image_free(nv_family_image *img)
{
    nv_tensor_free(&img->pixels);
    memset(img, 0, sizeof *img);
}
